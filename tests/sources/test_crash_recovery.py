"""A worker child killed mid-document: the task is redelivered and completes once."""

from __future__ import annotations

import time

import pytest

from sources.models import Chunk, Source
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def big_csv(rows: int) -> bytes:
    lines = ["id,name,city,notes"]
    lines += [f"{i},Person {i},City {i % 97},Note number {i} about something" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _wait_until_reading(source_id: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.get(pk=source_id)
        if source.status == "processing" and source.units_done > 0:
            return
        assert source.status in ("pending", "processing"), source.status
        time.sleep(0.05)
    raise AssertionError("source never started reading")


def test_killed_pool_child_is_redelivered_and_completes_once(api_client, chatbot, celery_worker):
    data = big_csv(600_000)
    source_id = upload(api_client, chatbot.pk, ("big.csv", data)).data["sources"][0]["source_id"]
    _wait_until_reading(source_id)

    assert celery_worker.kill_pool_children() > 0, "worker has no pool children"

    source = wait_for_source(source_id, timeout=120)
    assert source.status == "completed", (source.error_code, source.error_message)
    assert source.attempts == 2  # one crashed delivery, one that finished
    chunks = Chunk.objects.filter(source=source)
    assert chunks.count() == source.chunk_count
    assert set(chunks.values_list("generation", flat=True)) == {source.active_generation}
    assert not chunks.filter(is_active=False).exists()

    # Same chunks as an undisturbed run of the same file.
    clean_id = upload(api_client, chatbot.pk, ("big.csv", data), force="true").data["sources"][0]["source_id"]
    clean = wait_for_source(clean_id, timeout=120)
    ours = list(chunks.order_by("ordinal").values_list("text", flat=True))
    theirs = list(Chunk.objects.filter(source=clean).order_by("ordinal").values_list("text", flat=True))
    assert ours == theirs


def test_cancel_stops_a_running_document_and_keeps_nothing_half_written(api_client, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("big.csv", big_csv(600_000))).data["sources"][0]["source_id"]
    _wait_until_reading(source_id)

    response = api_client.post(f"/api/sources/{source_id}/cancel/")
    assert response.status_code == 202

    source = wait_for_source(source_id, timeout=60)
    assert source.status == "cancelled"
    assert not Chunk.objects.filter(source_id=source_id).exists()
    status = api_client.get(f"/api/tasks/{source.task_id}/").data["status"]
    assert status in ("REVOKED", "SUCCESS")


def test_status_shows_progress_and_eta_while_processing(api_client, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("big.csv", big_csv(600_000))).data["sources"][0]["source_id"]
    _wait_until_reading(source_id)

    detail = api_client.get(f"/api/sources/{source_id}/").data
    task = api_client.get(f"/api/tasks/{detail['task_id']}/").data

    assert detail["status"] == "processing" and detail["unit_name"] == "rows"
    assert detail["units_done"] > 0 and 0 < detail["progress"] < 100
    assert task["status"] == "PROGRESS" and task["progress"]["units_done"] > 0
    assert wait_for_source(source_id, timeout=120).status == "completed"
