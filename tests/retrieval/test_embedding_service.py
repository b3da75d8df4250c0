"""The embedding run and the periodic sync, in process against the real database, with the
OpenAI-compatible backend talking to a local server that speaks the protocol (fast, scriptable)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from retrieval.embeddings import EmbeddingError, reset_backend
from retrieval.models import Embedding
from retrieval.services import embedding, index_sync
from retrieval.services.search import search
from sources.models import Source
from sources.services import chunk_store
from tests.retrieval.embeddings.embedding_server import EmbeddingServer, Scripted, serve_embeddings
from tests.retrieval.helpers_retrieval import add_chunks, make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with serve_embeddings(dimension=8) as running, override_settings(
        EMBEDDINGS_BACKEND="openai", EMBEDDINGS_MODEL="test-embed", OPENAI_EMBEDDINGS_BASE_URL=running.base_url,
        EMBEDDINGS_DIMENSION=8, EMBEDDINGS_BATCH_SIZE=4, EMBEDDINGS_MAX_RETRIES=1, EMBEDDINGS_TIMEOUT_SECONDS=5,
    ):
        reset_backend()
        yield running
    reset_backend()


def inputs(server: EmbeddingServer) -> list[str]:
    return [text for request in server.requests for text in request["body"]["input"]]


def activate(source: Source) -> bool:
    with transaction.atomic():
        return embedding.on_chunks_activated(source.pk)


def test_run_embeds_every_chunk_once_and_marks_ready(chatbot, server):
    texts = [f"Paragraph {i} about widgets." for i in range(10)]
    source = make_source(chatbot, texts)
    assert activate(source) is True
    outcome = embedding.run(source.pk, "task-1")
    source.refresh_from_db()
    assert outcome.status == "ready" and source.index_status == "ready"
    assert source.embedded_count == 10 and source.index_model == "openai:test-embed:8"
    assert sorted(inputs(server)) == sorted(texts)
    assert max(len(r["body"]["input"]) for r in server.requests) == 4  # batches of EMBEDDINGS_BATCH_SIZE
    assert Embedding.objects.filter(model_key="openai:test-embed:8").count() == 10


def test_identical_texts_are_embedded_once_across_sources_and_reprocesses(chatbot, server):
    shared = "The same disclaimer appears in every document."
    first = make_source(chatbot, [shared, "First document body."], name="a")
    second = make_source(chatbot, [shared, "Second document body."], name="b")
    embedding.run(first.pk, "t1")
    embedding.run(second.pk, "t2")
    assert inputs(server).count(shared) == 1
    # A reprocess that produced the same texts: ready at activation, nothing sent.
    sent = len(inputs(server))
    add_chunks(first, [shared, "First document body."], active=False, generation=2)
    with transaction.atomic():
        chunk_store.activate_generation(first.pk, 2)
        needed = embedding.on_chunks_activated(first.pk)
    first.refresh_from_db()
    assert needed is False and first.index_status == "ready" and first.embedded_count == 2
    assert len(inputs(server)) == sent


def test_a_second_delivery_skips_while_a_live_run_holds_the_source(chatbot, server):
    source = make_source(chatbot, ["Alpha text.", "Beta text."])
    assert embedding.claim(source.pk, "live-run")
    assert embedding.run(source.pk, "duplicate").status == "skipped"
    assert server.requests == []
    # The same task id (a redelivery after a crash) resumes.
    assert embedding.run(source.pk, "live-run").status == "ready"


def test_a_run_that_stopped_reporting_can_be_taken_over(chatbot, server):
    source = make_source(chatbot, ["Alpha text."])
    embedding.claim(source.pk, "dead-run")
    Source.objects.filter(pk=source.pk).update(index_updated_at=timezone.now() - timedelta(hours=1))
    assert embedding.run(source.pk, "new-run").status == "ready"


def test_slices_hand_over_and_resume_without_re_embedding(chatbot, server):
    texts = [f"Chunk number {i} of a long manual." for i in range(12)]
    source = make_source(chatbot, texts)
    ticks = iter(range(1000))
    outcome = embedding.run(source.pk, "slice-1", slice_seconds=0.5, clock=lambda: float(next(ticks)))
    assert outcome.status == "continue" and outcome.next_task_id
    source.refresh_from_db()
    assert source.index_task_id == outcome.next_task_id and 0 < source.embedded_count < 12
    assert embedding.run(source.pk, "slice-1").status == "skipped"  # the old id no longer holds it
    assert embedding.run(source.pk, outcome.next_task_id, slice_seconds=1e9).status == "ready"
    assert sorted(inputs(server)) == sorted(texts)  # each text sent exactly once over both slices
    source.refresh_from_db()
    assert source.embedded_count == 12


def test_a_transient_backend_error_is_raised_for_retry_and_a_permanent_one_fails_the_index(chatbot, server):
    source = make_source(chatbot, ["Alpha text."])
    server.script[:] = [Scripted(503, {"error": {"message": "busy"}})] * 5
    with pytest.raises(EmbeddingError) as transient:
        embedding.run(source.pk, "t")
    assert transient.value.transient
    server.script[:] = [Scripted(401, {"error": {"message": "Incorrect API key provided"}})]
    with pytest.raises(EmbeddingError) as permanent:
        embedding.run(source.pk, "t")
    assert not permanent.value.transient
    embedding.record_failure(source.pk, "t", str(permanent.value))
    source.refresh_from_db()
    assert source.index_status == "failed" and "API key" in source.index_message and source.index_task_id == ""


def test_sync_queues_lost_stale_failed_and_other_model_sources(chatbot, server, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(index_sync, "queue", queued.append)
    old = timezone.now() - timedelta(hours=2)
    lost = make_source(chatbot, ["a"], name="lost")  # pending, no task
    stale = make_source(chatbot, ["b"], name="stale")
    Source.objects.filter(pk=stale.pk).update(index_status="indexing", index_task_id="gone", index_updated_at=old)
    live = make_source(chatbot, ["c"], name="live")
    Source.objects.filter(pk=live.pk).update(index_status="indexing", index_task_id="alive",
                                             index_updated_at=timezone.now())
    failed = make_source(chatbot, ["d"], name="failed")
    Source.objects.filter(pk=failed.pk).update(index_status="failed", index_updated_at=old)
    other_model = make_source(chatbot, ["e"], name="other")
    Source.objects.filter(pk=other_model.pk).update(index_status="ready", index_model="local:all-MiniLM-L6-v2:384")
    current = make_source(chatbot, ["f"], name="current")
    Source.objects.filter(pk=current.pk).update(index_status="ready", index_model="openai:test-embed:8")
    result = index_sync.sync()
    assert sorted(queued) == sorted([lost.pk, stale.pk, failed.pk, other_model.pk])
    assert result["queued"] == 4


def test_sync_deletes_vectors_nothing_uses(chatbot, server):
    source = make_source(chatbot, ["Kept text.", "Dropped text."])
    embedding.run(source.pk, "t")
    add_chunks(source, ["Kept text."], active=False, generation=2)
    with transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
        embedding.on_chunks_activated(source.pk)
    assert index_sync.sync()["vectors_deleted"] == 1
    assert Embedding.objects.count() == 1


def test_keyword_only_marks_sources_ready_and_search_says_so(chatbot):
    source = make_source(chatbot, ["Widgets are blue."])
    with override_settings(EMBEDDINGS_BACKEND="none"):
        reset_backend()
        try:
            index_sync.sync()
            source.refresh_from_db()
            assert source.index_status == "ready" and "Keyword search only" in source.index_message
            result = search(chatbot, "blue widgets")
            assert result.mode_used == "keyword" and "EMBEDDINGS_BACKEND=none" in result.notice
            assert result.results[0].text == "Widgets are blue."
        finally:
            reset_backend()


def test_semantic_search_reads_fresh_vectors_after_a_swap(chatbot, server):
    source = make_source(chatbot, ["Old words here."])
    embedding.run(source.pk, "t1")
    assert search(chatbot, "anything", mode="semantic").results[0].text == "Old words here."
    add_chunks(source, ["New words now."], active=False, generation=2)
    with transaction.atomic():
        chunk_store.activate_generation(source.pk, 2)
        Source.objects.filter(pk=source.pk).update(active_generation=2)
        embedding.on_chunks_activated(source.pk)
    embedding.run(source.pk, "t2")
    assert [hit.text for hit in search(chatbot, "anything", mode="semantic").results] == ["New words now."]


def test_a_backend_outage_during_search_falls_back_to_keywords(chatbot, server):
    source = make_source(chatbot, ["Widgets are blue."])
    embedding.run(source.pk, "t")
    server.script[:] = [Scripted(500, {"error": {"message": "down"}})] * 5
    result = search(chatbot, "blue widgets")
    assert result.mode_used == "keyword" and "unavailable" in result.notice
    assert result.results[0].text == "Widgets are blue."


def test_after_a_model_change_the_previous_vectors_serve_until_the_new_ones_cover_more(chatbot, server, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(index_sync, "queue", queued.append)
    source = make_source(chatbot, ["Widgets are blue.", "Gadgets are red."])
    embedding.run(source.pk, "t-old")
    with override_settings(EMBEDDINGS_MODEL="test-embed-v2"):
        reset_backend()
        try:
            index_sync.sync()  # the model changed: the source is queued again
            source.refresh_from_db()
            assert source.index_status == "pending" and queued == [source.pk]
            server.requests.clear()
            result = search(chatbot, "blue widgets", mode="semantic")
            assert result.mode_used == "semantic" and len(result.results) == 2
            assert [r["body"]["model"] for r in server.requests] == ["test-embed"]  # question embedded by the old model
            embedding.run(source.pk, "t-new")
            server.requests.clear()
            search(chatbot, "blue widgets", mode="semantic")
            assert [r["body"]["model"] for r in server.requests] == ["test-embed-v2"]
            # Everything is on the new model: the old vectors go.
            index_sync.sync()
            assert set(Embedding.objects.values_list("model_key", flat=True)) == {"openai:test-embed-v2:8"}
        finally:
            reset_backend()
