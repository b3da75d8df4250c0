"""Keyword index on SQLite: a contentless FTS5 table kept in step with ``sources_chunk`` by triggers.

Every chunk row is indexed as it is written, staged or active; the row id is the chunk id. A
``tags`` column carries ``b<chatbot> s<source>`` so chatbot and source filters are evaluated inside
FTS5 (the index holds every chatbot), and rankings keep only chunks that are active
(``retrieval.keyword.active``).
Indexing while staging, rather than in the swap, is what keeps the swap short: activating a
generation is a flag update, not a re-tokenisation of the whole document inside one write
transaction (147 MB of chunk text took 8 s there, holding SQLite's write lock; see
benchmarks/README.md). The batches that stage chunks index them in the same short transactions,
while the extraction child works on the other core.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.backends.base.base import BaseDatabaseWrapper

from retrieval.keyword.active import Ranking, best_active

TABLE = "retrieval_chunk_fts"
AUTOMERGE = 8

_TAGS_NEW = "'b' || new.chatbot_id || ' s' || new.source_id"
_TAGS_OLD = "'b' || old.chatbot_id || ' s' || old.source_id"

# ``IF NOT EXISTS`` everywhere: ``ensure_index`` runs after every migrate, because SQLite's way of
# altering a table (copy, drop, rename) silently drops the triggers of ``sources_chunk``.
DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "text, tags, content='', tokenize='porter unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_add AFTER INSERT ON sources_chunk BEGIN
          INSERT INTO {TABLE}(rowid, text, tags) VALUES (new.id, new.text, {_TAGS_NEW});
        END""",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_remove AFTER DELETE ON sources_chunk BEGIN
          INSERT INTO {TABLE}({TABLE}, rowid, text, tags) VALUES ('delete', old.id, old.text, {_TAGS_OLD});
        END""",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_change
        AFTER UPDATE OF text, chatbot_id, source_id ON sources_chunk BEGIN
          INSERT INTO {TABLE}({TABLE}, rowid, text, tags) VALUES ('delete', old.id, old.text, {_TAGS_OLD});
          INSERT INTO {TABLE}(rowid, text, tags) VALUES (new.id, new.text, {_TAGS_NEW});
        END""",
]

# The first version indexed active chunks only, in triggers on ``is_active``.
_ACTIVE_ONLY_TRIGGERS = ("retrieval_chunk_fts_insert", "retrieval_chunk_fts_delete", "retrieval_chunk_fts_update")

DROP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in _ACTIVE_ONLY_TRIGGERS),
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_add",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_remove",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_change",
    f"DROP TABLE IF EXISTS {TABLE}",
]

_TAGS = "'b' || chatbot_id || ' s' || source_id"


def ensure_index(connection: BaseDatabaseWrapper) -> None:
    """Create the table and triggers if missing; fill the table when it was just created.

    An index built by the first, active-only triggers is upgraded: those triggers go and the
    staged chunks they left out are added, so a run in flight activates indexed chunks.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = %s", [TABLE])
        existed = cursor.fetchone() is not None
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = %s", [_ACTIVE_ONLY_TRIGGERS[0]]
        )
        active_only = cursor.fetchone() is not None
        for name in _ACTIVE_ONLY_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in DDL:
            cursor.execute(statement)
        # Merge 8 segments of a level at a time, not FTS5's 4: every staged batch commits a segment,
        # and merging them 4 at a time was 17 % of the indexing (benchmarks/README.md); searches
        # over a 360k-chunk index measured no slower.
        cursor.execute(f"INSERT INTO {TABLE}({TABLE}, rank) VALUES ('automerge', {AUTOMERGE})")
        fill = f"INSERT INTO {TABLE}(rowid, text, tags) SELECT id, text, {_TAGS} FROM sources_chunk"
        if not existed:
            cursor.execute(fill)
        elif active_only:
            cursor.execute(fill + " WHERE NOT is_active")


def drop_index(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in DROP:
            cursor.execute(statement)


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _scope(chatbot_id: int, source_ids: Sequence[int] | None) -> str:
    scope = f"tags:{_phrase(f'b{int(chatbot_id)}')}"
    if source_ids:
        scope += " AND tags:(" + " OR ".join(_phrase(f"s{int(s)}") for s in source_ids) + ")"
    return scope


def count_matches(connection: BaseDatabaseWrapper, chatbot_id: int, term: str, limit: int) -> int:
    """How many of the chatbot's chunks contain ``term``, counted up to ``limit + 1`` (staged ones too:
    the count only decides which words are too common to query)."""
    expression = f"{_scope(chatbot_id, None)} AND text:{_phrase(term)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {TABLE} WHERE {TABLE} MATCH %s LIMIT %s)",
            [expression, limit + 1],
        )
        return int(cursor.fetchone()[0])


def search(
    connection: BaseDatabaseWrapper, chatbot_id: int, terms: Sequence[str], *, k: int,
    source_ids: Sequence[int] | None = None, require_all: bool = False,
) -> list[tuple[int, float]]:
    """(chunk id, BM25 score) of the best ``k`` chunks, best first; higher is better."""
    if not terms:
        return []
    joiner = " AND " if require_all else " OR "
    expression = f"{_scope(chatbot_id, source_ids)} AND text:(" + joiner.join(_phrase(t) for t in terms) + ")"
    # bm25() weights: the text column counts, the tags column never does. FTS5's bm25 is "lower
    # is better"; negate it so every ranking in retrieval is "higher is better".

    def ranked(limit: int) -> Ranking:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rowid, -bm25({TABLE}, 1.0, 0.0) AS score FROM {TABLE} "
                f"WHERE {TABLE} MATCH %s ORDER BY bm25({TABLE}, 1.0, 0.0) LIMIT %s",
                [expression, limit],
            )
            return [(int(row[0]), float(row[1])) for row in cursor.fetchall()]

    return best_active(connection, ranked, k)
