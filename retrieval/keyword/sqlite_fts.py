"""Keyword index on SQLite: a contentless FTS5 table kept in step with ``sources_chunk`` by triggers.

Rows are the active chunks only; the row id is the chunk id. A ``tags`` column carries
``b<chatbot> s<source>`` so chatbot and source filters are evaluated inside FTS5 (the index holds
every chatbot). The triggers run inside the statement that activates, deactivates or deletes chunks,
so the generation swap changes text and index in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "retrieval_chunk_fts"

_TAGS_NEW = "'b' || new.chatbot_id || ' s' || new.source_id"
_TAGS_OLD = "'b' || old.chatbot_id || ' s' || old.source_id"

# ``IF NOT EXISTS`` everywhere: ``ensure_index`` runs after every migrate, because SQLite's way of
# altering a table (copy, drop, rename) silently drops the triggers of ``sources_chunk``.
DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "text, tags, content='', tokenize='porter unicode61 remove_diacritics 2')",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_insert AFTER INSERT ON sources_chunk
        WHEN new.is_active BEGIN
          INSERT INTO {TABLE}(rowid, text, tags) VALUES (new.id, new.text, {_TAGS_NEW});
        END""",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_delete AFTER DELETE ON sources_chunk
        WHEN old.is_active BEGIN
          INSERT INTO {TABLE}({TABLE}, rowid, text, tags) VALUES ('delete', old.id, old.text, {_TAGS_OLD});
        END""",
    f"""CREATE TRIGGER IF NOT EXISTS retrieval_chunk_fts_update
        AFTER UPDATE OF is_active, text, chatbot_id, source_id ON sources_chunk
        WHEN old.is_active OR new.is_active BEGIN
          INSERT INTO {TABLE}({TABLE}, rowid, text, tags)
            SELECT 'delete', old.id, old.text, {_TAGS_OLD} WHERE old.is_active;
          INSERT INTO {TABLE}(rowid, text, tags) SELECT new.id, new.text, {_TAGS_NEW} WHERE new.is_active;
        END""",
]

DROP = [
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_update",
    f"DROP TABLE IF EXISTS {TABLE}",
]


def ensure_index(connection: BaseDatabaseWrapper) -> None:
    """Create the table and triggers if missing; fill the table when it was just created."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = %s", [TABLE])
        existed = cursor.fetchone() is not None
        for statement in DDL:
            cursor.execute(statement)
        if not existed:
            cursor.execute(
                f"INSERT INTO {TABLE}(rowid, text, tags) "
                "SELECT id, text, 'b' || chatbot_id || ' s' || source_id FROM sources_chunk WHERE is_active"
            )


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
    """How many of the chatbot's chunks contain ``term``, counted up to ``limit + 1``."""
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
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid, -bm25({TABLE}, 1.0, 0.0) AS score FROM {TABLE} "
            f"WHERE {TABLE} MATCH %s ORDER BY bm25({TABLE}, 1.0, 0.0) LIMIT %s",
            [expression, k],
        )
        return [(int(row[0]), float(row[1])) for row in cursor.fetchall()]
