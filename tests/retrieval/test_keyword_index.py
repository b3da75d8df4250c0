"""The keyword index on the real database: kept in step with chunks by triggers, BM25-ranked,
scoped to one chatbot, and safe for any text a user types."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import override_settings

from retrieval import keyword
from retrieval.keyword.query import query_terms
from sources.services import chunk_store
from tests.factories import ChatbotFactory
from tests.retrieval.helpers_retrieval import add_chunks, make_source

pytestmark = pytest.mark.django_db

GARDEN = [
    "Tomatoes need six hours of direct sunlight and deep watering twice a week.",
    "Prune the roses in late winter, cutting just above an outward-facing bud.",
    "Compost improves clay soil: dig in a thick layer every autumn.",
    "Water the lawn early in the morning so the grass dries before nightfall.",
]


def ids(hits):
    return [chunk_id for chunk_id, _ in hits]


def texts_of(hits):
    from sources.models import Chunk

    by_id = dict(Chunk.objects.filter(pk__in=ids(hits)).values_list("pk", "text"))
    return [by_id[i] for i in ids(hits)]


def test_ranks_the_chunk_that_has_the_words_first(chatbot):
    make_source(chatbot, GARDEN)
    hits = keyword.search(chatbot.pk, "when should I prune roses?", k=3)
    assert texts_of(hits)[0].startswith("Prune the roses")
    assert hits[0][1] > 0


def test_stemming_matches_other_forms_of_a_word(chatbot):
    make_source(chatbot, GARDEN)
    assert texts_of(keyword.search(chatbot.pk, "pruning", k=1))[0].startswith("Prune the roses")
    assert texts_of(keyword.search(chatbot.pk, "watered lawns", k=1))[0].startswith("Water the lawn")


def test_rare_words_outrank_common_ones(chatbot):
    make_source(chatbot, [f"Water the plants on day {i}." for i in range(20)] + ["Water the orchids sparingly."])
    assert texts_of(keyword.search(chatbot.pk, "water orchids", k=1)) == ["Water the orchids sparingly."]


def test_other_chatbots_chunks_are_never_returned(chatbot):
    other = ChatbotFactory()
    make_source(other, ["Secret roses pruning schedule of another owner."])
    make_source(chatbot, GARDEN)
    for text in texts_of(keyword.search(chatbot.pk, "secret roses pruning schedule", k=10)):
        assert "Secret" not in text
    assert keyword.search(chatbot.pk + 1000, "roses", k=10) == []


def test_source_filter(chatbot):
    first = make_source(chatbot, ["Roses like sun."], name="a")
    second = make_source(chatbot, ["Roses like rain."], name="b")
    assert len(keyword.search(chatbot.pk, "roses", k=10)) == 2
    only = keyword.search(chatbot.pk, "roses", k=10, source_ids=[second.pk])
    assert texts_of(only) == ["Roses like rain."]
    assert texts_of(keyword.search(chatbot.pk, "roses", k=10, source_ids=[first.pk, second.pk])) != []


def test_staged_chunks_are_invisible_until_the_swap_and_the_old_set_goes_with_it(chatbot):
    source = make_source(chatbot, ["Old advice about tulips."], generation=1)
    add_chunks(source, ["New advice about daffodils."], active=False, generation=2)
    assert texts_of(keyword.search(chatbot.pk, "daffodils", k=5)) == []
    assert texts_of(keyword.search(chatbot.pk, "tulips", k=5)) == ["Old advice about tulips."]
    with transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
    assert texts_of(keyword.search(chatbot.pk, "daffodils", k=5)) == ["New advice about daffodils."]
    assert keyword.search(chatbot.pk, "tulips", k=5) == []


def indexed_ids(word: str) -> set[int]:
    """Chunk ids the index itself holds for ``word``, active or not (below the search's filter)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT rowid FROM retrieval_chunk_fts WHERE retrieval_chunk_fts MATCH %s", [f"text:{word}"])
        else:
            cursor.execute(
                "SELECT chunk_id FROM retrieval_keyword_index WHERE doc @@ to_tsquery('english', %s)", [word]
            )
        return {int(row[0]) for row in cursor.fetchall()}


def test_chunks_are_indexed_as_they_are_staged_so_the_swap_only_flips_flags(chatbot):
    source = make_source(chatbot, ["Old advice about tulips."], generation=1)
    staged = add_chunks(source, ["New advice about daffodils."], active=False, generation=2)
    assert indexed_ids("daffodils") == {staged[0].pk}  # in the index, filtered out by the query
    assert keyword.search(chatbot.pk, "daffodils", k=5) == []
    with transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
    assert ids(keyword.search(chatbot.pk, "daffodils", k=5)) == [staged[0].pk]
    assert indexed_ids("tulips") == set()  # the old generation's rows went with their chunks


def test_staged_chunks_that_outrank_every_active_one_are_skipped_not_returned(chatbot):
    source = make_source(chatbot, ["A note that mentions tulips once among other flowers."], generation=1)
    add_chunks(source, [f"Tulips, tulips, tulips: staged note {i}." for i in range(40)], active=False, generation=2)
    hits = keyword.search(chatbot.pk, "tulips", k=1)  # the first ranking asked for is all staged rows
    assert texts_of(hits) == ["A note that mentions tulips once among other flowers."]
    assert len(keyword.search(chatbot.pk, "tulips", k=5)) == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="FTS5 is SQLite's index")
def test_fts5_merges_eight_segments_at_a_time(chatbot):
    from retrieval.keyword import sqlite_fts

    keyword.ensure_index(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT v FROM retrieval_chunk_fts_config WHERE k = 'automerge'")
        assert cursor.fetchone()[0] == sqlite_fts.AUTOMERGE == 8


def test_a_discarded_staged_set_leaves_the_index(chatbot):
    source = make_source(chatbot, ["Old advice about tulips."], generation=1)
    add_chunks(source, ["New advice about daffodils."], active=False, generation=2)
    chunk_store.discard_generation(source.pk, 2)
    assert indexed_ids("daffodils") == set()
    assert texts_of(keyword.search(chatbot.pk, "tulips", k=5)) == ["Old advice about tulips."]


def test_editing_a_chunks_text_reindexes_it(chatbot):
    from sources.models import Chunk

    source = make_source(chatbot, ["Advice about tulips."])
    Chunk.objects.filter(source=source).update(text="Advice about orchids.")
    assert texts_of(keyword.search(chatbot.pk, "orchids", k=5)) == ["Advice about orchids."]
    assert keyword.search(chatbot.pk, "tulips", k=5) == []


def _install_first_version_trigger() -> None:
    """A trigger under the first version's name, as a database indexed by that version has it."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER retrieval_chunk_fts_insert AFTER INSERT ON sources_chunk WHEN 0 BEGIN SELECT 1; END"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER retrieval_chunk_sync BEFORE UPDATE ON sources_chunk "
                "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
            )


def _unindex(chunk) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts, rowid, text, tags) VALUES ('delete', %s, %s, %s)",
                [chunk.pk, chunk.text, f"b{chunk.chatbot_id} s{chunk.source_id}"],
            )
        else:
            cursor.execute("DELETE FROM retrieval_keyword_index WHERE chunk_id = %s", [chunk.pk])


def test_ensure_index_upgrades_an_active_only_index_and_adds_the_staged_chunks(chatbot):
    source = make_source(chatbot, ["Old advice about tulips."], generation=1)
    staged = add_chunks(source, ["New advice about daffodils."], active=False, generation=2)
    _unindex(staged[0])  # the first version indexed active chunks only
    _install_first_version_trigger()
    keyword.ensure_index(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'retrieval_chunk%%'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'retrieval_chunk%%' AND NOT tgisinternal")
        triggers = {row[0] for row in cursor.fetchall()}
    assert "retrieval_chunk_fts_insert" not in triggers and "retrieval_chunk_sync" not in triggers
    assert indexed_ids("daffodils") == {staged[0].pk}
    assert indexed_ids("tulips")  # the active set is not indexed twice or lost
    with transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
    assert texts_of(keyword.search(chatbot.pk, "daffodils", k=5)) == ["New advice about daffodils."]


def test_a_rolled_back_swap_leaves_the_index_as_it_was(chatbot):
    source = make_source(chatbot, ["Old advice about tulips."], generation=1)
    add_chunks(source, ["New advice about daffodils."], active=False, generation=2)
    with pytest.raises(RuntimeError), transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
        raise RuntimeError("crash inside the swap")
    assert texts_of(keyword.search(chatbot.pk, "tulips", k=5)) == ["Old advice about tulips."]
    assert keyword.search(chatbot.pk, "daffodils", k=5) == []


def test_deleting_a_source_removes_its_chunks_from_the_index(chatbot):
    source = make_source(chatbot, GARDEN)
    assert keyword.search(chatbot.pk, "compost", k=5)
    source.delete()
    assert keyword.search(chatbot.pk, "compost", k=5) == []
    chatbot_id = chatbot.pk
    make_source(chatbot, GARDEN)
    chatbot.delete()
    assert keyword.search(chatbot_id, "compost", k=5) == []


HOSTILE = [
    '"unbalanced quote', "roses AND OR NOT", "NEAR(roses water, 2)", "text:roses", "tags:b1", "b1",
    "roses*", "-roses", "^roses", "(((roses", "roses)", "' OR 1=1; DROP TABLE sources_chunk; --", "\\", "%_",
    "rosés", "ROSES!!!", "🌹 roses", "roses\x00", "{roses}", "roses | water & !compost", "roses:*",
    "<script>alert(1)</script>", "a" * 500, "the of and", "???", "",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_error_and_never_leak(chatbot, query):
    make_source(chatbot, GARDEN)
    other = ChatbotFactory()
    make_source(other, ["roses belonging to someone else b1 tags"])
    hits = keyword.search(chatbot.pk, query, k=5)
    for text in texts_of(hits):
        assert "someone else" not in text


def test_operator_words_are_searched_as_words(chatbot):
    make_source(chatbot, ["Logic gates: AND, OR and NOT combine signals.", "Roses and tulips."])
    assert texts_of(keyword.search(chatbot.pk, "NOT gates", k=1)) == ["Logic gates: AND, OR and NOT combine signals."]


def test_query_terms_drop_syntax_and_stop_words():
    assert query_terms('How do I "prune" roses -- AND water them?') == ["prune", "roses", "water"]
    assert query_terms("the of and") == ["the", "of", "and"]
    assert query_terms("***") == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 32


@override_settings(SEARCH_KEYWORD_MAX_POSTINGS=5)
def test_common_words_are_left_out_of_large_chatbots(chatbot):
    texts = [f"Water your garden plants, note {i}." for i in range(12)] + ["Orchids want rain water."]
    make_source(chatbot, texts)
    terms = keyword.query_terms("water orchids")
    if connection.vendor == "postgresql":
        from retrieval.keyword import postgres_fts

        terms = postgres_fts.lexemes(connection, terms)
    planned, require_all = keyword.plan_terms(connection, chatbot.pk, terms, chunk_total=len(texts))
    assert len(planned) == 1 and not require_all  # only the rare word is queried
    assert texts_of(keyword.search(chatbot.pk, "water orchids", k=1, chunk_total=len(texts))) == [
        "Orchids want rain water."
    ]
    # Every word common: all are required together, and the search still answers.
    hits = keyword.search(chatbot.pk, "water garden plants", k=3, chunk_total=len(texts))
    assert len(hits) == 3
    assert all("garden" in t for t in texts_of(hits))


def test_ensure_index_is_idempotent_and_rebuilds_a_dropped_index(chatbot):
    make_source(chatbot, GARDEN)
    keyword.ensure_index(connection)
    assert texts_of(keyword.search(chatbot.pk, "compost", k=5)) == [GARDEN[2]]
    keyword.drop_index(connection)
    keyword.ensure_index(connection)  # a fresh index is filled from the active chunks
    assert texts_of(keyword.search(chatbot.pk, "compost", k=5)) == [GARDEN[2]]
