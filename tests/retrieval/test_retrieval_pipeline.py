"""Retrieval end to end: upload through the API, a real worker ingests and a real ``embeddings``
worker embeds with the local model; search answers by keyword at once and semantically once indexed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from retrieval.models import Embedding
from sources.models import Chunk, Source
from tests.retrieval.helpers_retrieval import wait_for_index
from tests.sources.helpers_sources import upload, wait_for_source
from tests.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HANDBOOK = "\n\n".join([
    "Holiday allowance. Every employee receives twenty-five days of paid vacation each calendar year, "
    "and unused days can be carried over until the end of March.",
    "Expense claims. Receipts for travel, meals and equipment must be submitted through the finance portal "
    "within thirty days of purchase to be reimbursed.",
    "Remote work. Staff may work from home up to three days per week after agreeing a schedule with their "
    "team lead; the office stays open for everyone else.",
    "Security badges. A lost badge must be reported to reception immediately so it can be deactivated, "
    "and a replacement is issued the same day.",
])


@pytest.fixture(scope="module")
def embeddings_worker(start_worker: Callable[..., WorkerProcess]) -> Iterator[WorkerProcess]:
    """A worker for the ``embeddings`` queue only, for this module: the local model in its children."""
    worker = start_worker(extra_args=["-Q", "embeddings"], concurrency=1)
    yield worker
    worker.stop()


def search(client, chatbot_id: int, q: str, **params):
    response = client.get(f"/api/chatbots/{chatbot_id}/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def ingest(client, chatbot, name: str, text: str, **extra) -> Source:
    response = upload(client, chatbot.pk, (name, text.encode()), chunk_size=200, chunk_overlap=0, **extra)
    assert response.status_code == 202, response.content
    return wait_for_source(response.json()["sources"][0]["source_id"])


def test_keyword_at_once_semantic_once_indexed(api_client, chatbot, celery_worker, embeddings_worker):
    source = ingest(api_client, chatbot, "handbook.txt", HANDBOOK)
    assert source.status == Source.Status.COMPLETED and source.chunk_count >= 4
    # Completed means keyword-searchable, whatever the embedding worker is doing.
    body = search(api_client, chatbot.pk, "lost badge reception", mode="keyword")
    assert "lost badge" in body["results"][0]["text"]

    source = wait_for_index(source.pk)
    assert source.index_status == Source.IndexStatus.READY
    assert source.embedded_count == source.chunk_count
    assert source.index_model.startswith("local:")
    api = api_client.get(f"/api/sources/{source.pk}/").json()
    assert api["index_status"] == "ready" and api["embedded_count"] == source.chunk_count

    # A paraphrase sharing no content word with the answer: only meaning finds it.
    body = search(api_client, chatbot.pk, "How many days off do I get per year?", mode="semantic")
    assert body["mode_used"] == "semantic"
    assert "vacation" in body["results"][0]["text"]
    body = search(api_client, chatbot.pk, "How many days off do I get per year?")
    assert body["mode_used"] == "hybrid" and body["notice"] == ""
    assert "vacation" in body["results"][0]["text"]


def test_reprocess_costs_nothing_and_delete_disappears_at_once(api_client, chatbot, celery_worker,
                                                                embeddings_worker):
    source = wait_for_index(ingest(api_client, chatbot, "handbook.txt", HANDBOOK).pk)
    vectors_before = Embedding.objects.count()
    response = api_client.post(f"/api/sources/{source.pk}/reprocess/")
    assert response.status_code == 202, response.content
    again = wait_for_source(source.pk, statuses=(Source.Status.COMPLETED,))
    assert again.active_generation > source.active_generation
    # Same texts, same vectors: ready without embedding anything again.
    again = wait_for_index(source.pk)
    assert again.embedded_count == again.chunk_count and Embedding.objects.count() == vectors_before
    assert search(api_client, chatbot.pk, "expense receipts reimbursed")["results"]

    assert api_client.delete(f"/api/sources/{source.pk}/").status_code == 204
    assert search(api_client, chatbot.pk, "expense receipts reimbursed", mode="keyword")["results"] == []
    assert search(api_client, chatbot.pk, "expense receipts reimbursed", mode="hybrid")["results"] == []


def test_a_worker_killed_mid_embedding_resumes_without_gaps_or_double_counts(
    api_client, chatbot, celery_worker, embeddings_worker
):
    paragraphs = [f"Section {i}. The maintenance log for machine {i} records oil changes, belt inspections and "
                  f"calibration results noted by technician {i * 7 % 13} during shift {i % 3}." for i in range(240)]
    source = ingest(api_client, chatbot, "log.txt", "\n\n".join(paragraphs))
    total = source.chunk_count
    assert total >= 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = Source.objects.get(pk=source.pk)
        if 0 < current.embedded_count < total:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"embedding never started (status {current.index_status}, {current.embedded_count}/{total})")
    assert embeddings_worker.kill_pool_children() >= 1
    done = wait_for_index(source.pk, timeout=240)
    assert done.index_status == Source.IndexStatus.READY
    assert done.embedded_count == total == Chunk.objects.filter(source=done, is_active=True).count()
    hashes = set(Chunk.objects.filter(source=done, is_active=True).values_list("content_hash", flat=True))
    key = done.index_model
    assert Embedding.objects.filter(model_key=key, content_hash__in=hashes).count() == len(hashes)
