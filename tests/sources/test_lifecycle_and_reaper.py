"""Claiming, finishing and reaping runs: idempotent, and nothing stays processing forever."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from celery import Celery
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from botsmith.errors import ProcessingError
from sources.models import Chunk, Source
from sources.services import chunk_store, dispatch, lifecycle
from sources.services.reaper import reap_stuck_sources
from tests.sources.helpers_sources import upload

pytestmark = pytest.mark.django_db


def _source(chatbot, **fields) -> Source:
    defaults = {"kind": "file", "name": "a.txt", "original_filename": "a.txt", "file_kind": "txt",
                "task_id": str(uuid.uuid4())}
    defaults.update(fields)
    source = Source(chatbot=chatbot, **defaults)
    source.file.save("a.txt", ContentFile(b"hello"), save=False)
    source.save()
    return source


def test_claim_moves_pending_to_processing_and_counts_the_attempt(chatbot):
    source = _source(chatbot)

    claim = lifecycle.claim_source(source.pk, source.task_id)

    assert isinstance(claim, lifecycle.Claim)
    source.refresh_from_db()
    assert (source.status, source.attempts, source.generation) == ("processing", 1, 1)
    assert source.heartbeat_at is not None and source.run_id == claim.run_id


def test_second_task_for_a_processing_source_has_nothing_to_do(chatbot):
    source = _source(chatbot)
    lifecycle.claim_source(source.pk, source.task_id)

    outcome = lifecycle.claim_source(source.pk, "another-task")

    assert isinstance(outcome, lifecycle.Skip) and "already processing" in outcome.reason


def test_redelivery_of_the_same_task_reclaims(chatbot):
    source = _source(chatbot)
    first = lifecycle.claim_source(source.pk, source.task_id)

    second = lifecycle.claim_source(source.pk, source.task_id)

    assert isinstance(second, lifecycle.Claim)
    assert second.generation == first.generation + 1 and second.run_id != first.run_id


def test_finished_source_is_left_alone(chatbot):
    source = _source(chatbot, status="completed")
    assert isinstance(lifecycle.claim_source(source.pk, source.task_id), lifecycle.Skip)


def test_too_many_attempts_fail_as_crashed(chatbot, settings):
    settings.PROCESSING_MAX_ATTEMPTS = 2
    source = _source(chatbot, status="processing", attempts=2)

    outcome = lifecycle.claim_source(source.pk, source.task_id)

    source.refresh_from_db()
    assert isinstance(outcome, lifecycle.Skip)
    assert (source.status, source.error_code) == ("failed", "crashed")
    assert "crashed repeatedly" in source.error_message


@pytest.mark.parametrize("bad", [None, "abc", -1, 0, 1.5, True, "12; DROP TABLE"])
def test_bad_source_ids_are_clear_errors(bad):
    with pytest.raises(ProcessingError) as info:
        lifecycle.claim_source(bad, "t")
    assert info.value.code == "invalid_argument"


def test_unknown_source_id_is_a_clear_error(db):
    with pytest.raises(ProcessingError, match="no source with id 999999"):
        lifecycle.claim_source(999999, "t")


def test_failed_run_keeps_the_previous_chunks_active(chatbot):
    source = _source(chatbot, status="completed")
    Chunk.objects.create(source=source, chatbot=chatbot, ordinal=0, text="old", char_count=3, token_count=1,
                         content_hash="o", is_active=True)
    dispatch.prepare_run(source)
    source.save()
    claim = lifecycle.claim_source(source.pk, source.task_id)
    writer = chunk_store.ChunkWriter(claim.source, claim.generation)
    list(writer.add_all([type("D", (), {"text": "new", "metadata": {}})()]))

    lifecycle.fail_run(claim, "corrupt", "broken")

    assert list(Chunk.objects.filter(source=source).values_list("text", "is_active")) == [("old", True)]
    source.refresh_from_db()
    assert (source.status, source.error_code) == ("failed", "corrupt")


def test_complete_run_swaps_in_exactly_one_set(chatbot):
    source = _source(chatbot, status="completed")
    Chunk.objects.create(source=source, chatbot=chatbot, ordinal=0, text="old", char_count=3, token_count=1,
                         content_hash="o", is_active=True)
    dispatch.prepare_run(source)
    source.save()
    claim = lifecycle.claim_source(source.pk, source.task_id)
    drafts = [type("D", (), {"text": t, "metadata": {}})() for t in ("one", "two", "one")]
    writer = chunk_store.ChunkWriter(claim.source, claim.generation)
    list(writer.add_all(drafts))

    lifecycle.complete_run(claim, counts={"chunk_count": writer.result.chunk_count})

    rows = list(Chunk.objects.filter(source=source).order_by("ordinal").values_list("text", "is_active"))
    assert rows == [("one", True), ("two", True)]
    source.refresh_from_db()
    assert (source.status, source.chunk_count, source.active_generation) == ("completed", 2, claim.generation)


def test_superseded_run_cannot_write(chatbot):
    source = _source(chatbot)
    claim = lifecycle.claim_source(source.pk, source.task_id)
    Source.objects.filter(pk=source.pk).update(run_id=uuid.uuid4())

    with pytest.raises(lifecycle.RunSuperseded):
        lifecycle.RunReporter(claim, interval=0).report(progress=10, stage="x")
    with pytest.raises(lifecycle.RunSuperseded):
        lifecycle.complete_run(claim, counts={})


def test_cancel_flag_stops_the_run_at_the_next_report(chatbot):
    source = _source(chatbot)
    claim = lifecycle.claim_source(source.pk, source.task_id)
    Source.objects.filter(pk=source.pk).update(cancel_requested=True)

    with pytest.raises(lifecycle.RunCancelled):
        lifecycle.RunReporter(claim, interval=0).report(progress=10, stage="x")
    lifecycle.cancel_run(claim)

    source.refresh_from_db()
    assert source.status == "cancelled" and source.cancel_requested is False


def test_reaper_requeues_a_dead_run_and_fails_one_out_of_attempts(chatbot, settings):
    settings.PROCESSING_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(hours=1)
    dead = _source(chatbot, status="processing", attempts=1, heartbeat_at=old)
    hopeless = _source(chatbot, status="processing", attempts=3, heartbeat_at=old)
    alive = _source(chatbot, status="processing", attempts=1, heartbeat_at=timezone.now())
    old_task_id = dead.task_id

    counts = reap_stuck_sources()

    dead.refresh_from_db()
    hopeless.refresh_from_db()
    alive.refresh_from_db()
    assert counts == {"requeued": 1, "failed": 1}
    assert dead.status == "pending" and dead.task_id != old_task_id and dead.attempts == 1
    assert (hopeless.status, hopeless.error_code) == ("failed", "crashed")
    assert alive.status == "processing"


def test_reaper_requeues_a_source_pending_too_long(chatbot, settings):
    source = _source(chatbot, status="pending")
    Source.objects.filter(pk=source.pk).update(updated_at=timezone.now() - timedelta(hours=2))

    counts = reap_stuck_sources()

    source.refresh_from_db()
    assert counts["requeued"] == 1 and source.attempts == 1


def test_reaper_is_seeded_every_five_minutes():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="sources-reap-stuck")
    assert (task.interval.every, task.interval.period, task.enabled) == (300, "seconds", True)


def test_upload_with_broker_down_is_503_and_leaves_nothing(api_client, chatbot, monkeypatch):
    down = Celery("down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    down.conf.broker_connection_timeout = 0.5
    monkeypatch.setattr(dispatch, "app", down)
    files_before = set(_list_stored(chatbot.pk))

    response = upload(api_client, chatbot.pk, ("a.txt", b"text"), ("b.txt", b"more"))

    assert response.status_code == 503
    assert response["Retry-After"]
    assert not Source.objects.exists()
    assert set(_list_stored(chatbot.pk)) == files_before


def _list_stored(chatbot_id: int) -> list[str]:
    folder = f"sources/{chatbot_id}"
    if not default_storage.exists(folder):
        return []
    return sorted(os.listdir(default_storage.path(folder)))


def test_eta_and_text_coverage_from_units_done(chatbot):
    from sources import selectors

    source = _source(chatbot, status="processing", file_kind="pdf", units_total=100, units_done=25,
                     units_with_text=20, started_at=timezone.now() - timedelta(seconds=10))

    assert selectors.eta_seconds(source) == pytest.approx(30, abs=1)
    assert selectors.text_coverage(source) == 0.8
    source.status = "completed"
    assert selectors.eta_seconds(source) is None
