"""Web writes while four worker processes bulk-insert chunks: no "database is locked", no row missing.

Written for SQLite (one writer at a time: WAL, ``BEGIN IMMEDIATE`` and the busy timeout must make
writers queue instead of failing); it runs on PostgreSQL too, where it checks the same guarantees
under row-level concurrency.
"""

from __future__ import annotations

import time

import pytest

from botsmith.models import Chatbot
from sources.models import Chunk, Source
from tests.sources.helpers_sources import wait_for_source

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DOCUMENTS = 4
ROWS = 100_000
MIN_WRITES = 300


def _csv(doc: int, rows: int) -> bytes:
    # Same shape for every document (so the same chunk count), different content.
    lines = ["id,name,city,notes"]
    lines += [f"{i},Person {i} of {doc},City {i % 97},Note {i} about document {doc}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _any_processing(ids: list[int]) -> bool:
    return Source.objects.filter(pk__in=ids, status=Source.Status.PROCESSING).exists()


def test_web_writes_while_four_workers_bulk_insert_chunks_lose_nothing(
    api_client, chatbot, private_broker, file_source
):
    worker = private_broker.start_worker(concurrency=DOCUMENTS, env={"CHUNK_INSERT_BATCH_SIZE": "200"})
    sources = [file_source(chatbot, _csv(d, ROWS), name=f"big-{d}.csv", chunk_size=200, chunk_overlap=20)
               for d in range(DOCUMENTS)]
    ids = [s.pk for s in sources]
    for source in sources:
        private_broker.send(source)
    deadline = time.monotonic() + 60
    while Source.objects.filter(pk__in=ids).exclude(status=Source.Status.PENDING).count() < DOCUMENTS:
        assert time.monotonic() < deadline, list(Source.objects.filter(pk__in=ids).values_list("status", "stage"))
        time.sleep(0.05)

    failures: list[str] = []
    created: dict[int, str] = {}
    overlapping = 0
    i = 0
    while i < MIN_WRITES or _any_processing(ids):
        busy = _any_processing(ids)
        name = f"bot {i}"
        try:
            response = api_client.post("/api/chatbots/", {"name": name, "chunk_size": 500, "chunk_overlap": 50},
                                       format="json")
            if response.status_code != 201:
                failures.append(f"POST {response.status_code}: {response.content[:200]!r}")
            else:
                created[response.data["id"]] = name
                if i % 2 == 0:
                    renamed = f"{name} renamed"
                    patch = api_client.patch(f"/api/chatbots/{response.data['id']}/", {"name": renamed},
                                             format="json")
                    if patch.status_code != 200:
                        failures.append(f"PATCH {patch.status_code}: {patch.content[:200]!r}")
                    else:
                        created[response.data["id"]] = renamed
                if i % 5 == 0:
                    for url in (f"/api/sources/{ids[i % DOCUMENTS]}/", "/api/chatbots/"):
                        read = api_client.get(url)
                        if read.status_code != 200:
                            failures.append(f"GET {url} {read.status_code}")
        except Exception as exc:  # a 500 surfaces as the view's exception in the test client
            failures.append(f"write {i}: {exc!r}")
        overlapping += busy
        i += 1
        assert i < 20_000, "documents never finished"

    assert not failures, failures[:10]
    assert overlapping >= MIN_WRITES // 2, f"only {overlapping} writes overlapped the chunk inserts"
    stored = dict(Chatbot.objects.filter(pk__in=created).values_list("pk", "name"))
    assert stored == created  # every acknowledged write is there, with its last value

    finished = [wait_for_source(pk, timeout=120) for pk in ids]
    for source in finished:
        assert source.status == Source.Status.COMPLETED, (source.error_code, source.error_message)
        assert (source.units_done, source.attempts) == (ROWS, 1)  # attempts 1: no retried "locked" error
        chunks = Chunk.objects.filter(source=source)
        assert chunks.count() == source.chunk_count > 1000
        assert not chunks.filter(is_active=False).exists()
        assert set(chunks.values_list("generation", flat=True)) == {source.active_generation}
        assert list(chunks.order_by("ordinal").values_list("ordinal", flat=True)) == list(range(source.chunk_count))
    assert len({s.chunk_count for s in finished}) == 1, [s.chunk_count for s in finished]
    log = worker.log_path.read_text(errors="replace")
    assert "database is locked" not in log
    assert "OperationalError" not in log
    print(f"{i} write rounds ({overlapping} during chunk inserts), {len(created)} chatbots, "
          f"{finished[0].chunk_count} chunks per document")
