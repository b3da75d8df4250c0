"""Crashed children, crashed workers, duplicate deliveries and time limits: nothing lost, nothing doubled."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from botsmith.celery import app as celery_app
from sources.models import Chunk, Source
from sources.services import dispatch
from tests.conftest import BROKER_KEY_PREFIX
from tests.sources.helpers_sources import upload, wait_for_source
from tests.sources.test_crash_recovery import big_csv
from tests.worker import isolated_app

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _file_source(chatbot, data: bytes, name: str = "big.csv") -> Source:
    source = Source(chatbot=chatbot, kind="file", name=name, original_filename=name, file_kind=name.rsplit(".")[-1],
                    size_bytes=len(data))
    dispatch.prepare_run(source)
    source.file.save(name, ContentFile(data), save=False)
    source.save()
    return source


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _reading(source_id: int, attempts: int | None = None):
    def check() -> bool:
        s = Source.objects.get(pk=source_id)
        return s.status == "processing" and s.units_done > 0 and (attempts is None or s.attempts == attempts)
    return check


def _assert_one_chunk_set(source: Source) -> None:
    chunks = Chunk.objects.filter(source=source)
    assert chunks.count() == source.chunk_count > 0
    assert set(chunks.values_list("generation", flat=True)) == {source.active_generation}
    assert not chunks.filter(is_active=False).exists()


def _queue_length(prefix: str, queue: str) -> int:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(f"{prefix}{queue}")


def test_poison_document_fails_after_the_attempt_limit_and_the_queue_moves_on(api_client, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("poison.csv", big_csv(600_000))).data["sources"][0]["source_id"]

    for attempt in range(1, settings.PROCESSING_MAX_ATTEMPTS + 1):
        _wait(_reading(source_id, attempt), 90, f"attempt {attempt} to start")
        assert celery_worker.kill_pool_children() > 0

    source = wait_for_source(source_id, timeout=90)
    assert (source.status, source.error_code) == ("failed", "crashed")
    assert "crashed repeatedly" in source.error_message
    assert not Chunk.objects.filter(source=source).exists()
    assert _queue_length(BROKER_KEY_PREFIX, "documents") == 0
    nxt = upload(api_client, chatbot.pk, ("next.txt", b"The queue moved on.")).data["sources"][0]["source_id"]
    assert wait_for_source(nxt).status == "completed"


def test_whole_worker_killed_is_taken_up_again_by_the_reaper(chatbot, start_worker):
    prefix = f"reaper-{uuid.uuid4().hex[:8]}:"
    app = isolated_app(prefix)
    env = {"CELERY_BROKER_KEY_PREFIX": prefix, "STUCK_PROCESSING_AFTER_SECONDS": "4",
           "HEARTBEAT_INTERVAL_SECONDS": "0.2"}
    first = start_worker(env=env, wait=False)
    first.wait_ready(app)
    source = _file_source(chatbot, big_csv(600_000))
    app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    _wait(_reading(source.pk), 90, "processing to start")

    first.kill_all()  # main process and children: nothing acks, nothing requeues
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(name="sources-reap-stuck", defaults={
        "task": "sources.tasks.reap_stuck_sources", "interval": every_2s, "crontab": None, "enabled": True})
    second = start_worker(env=env, beat=True, wait=False)
    try:
        second.wait_ready(app)
        source = wait_for_source(source.pk, timeout=120)
    finally:
        PeriodicTask.objects.filter(name="sources-reap-stuck").update(enabled=False)
        second.stop()

    assert source.status == "completed", (source.error_code, source.error_message)
    assert source.attempts == 2 and source.task_id != "" and "Requeued" not in source.stage
    _assert_one_chunk_set(source)


def test_same_source_enqueued_twice_at_once_gives_one_chunk_set(chatbot, celery_worker):
    source = _file_source(chatbot, big_csv(50_000))
    first = celery_app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk},
                                 task_id=source.task_id)
    second = celery_app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk})

    results = [first.get(timeout=90), second.get(timeout=90)]

    source.refresh_from_db()
    assert source.status == "completed"
    _assert_one_chunk_set(source)
    skipped = [r for r in results if "skipped" in r]
    assert len(skipped) == 1, results
    assert skipped[0]["skipped"] in ("already processing in another task", "already completed")


@pytest.mark.parametrize(("limits", "label"), [
    ({"CELERY_TASK_SOFT_TIME_LIMIT": "1", "CELERY_TASK_TIME_LIMIT": "60"}, "soft"),
    ({"CELERY_TASK_SOFT_TIME_LIMIT": "0", "CELERY_TASK_TIME_LIMIT": "1"}, "hard"),
])
def test_time_limit_ends_failed_timeout_never_processing(chatbot, broker, limits, label):
    broker.start_worker(env=limits)
    source = _file_source(chatbot, big_csv(900_000))
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    source = wait_for_source(source.pk, timeout=90)
    assert (source.status, source.error_code) == ("failed", "timeout"), source.error_message
    assert "time limit" in source.error_message
    assert not Chunk.objects.filter(source=source).exists()
    # The source is failed inside the task; its final state is stored just after (STARTED until then).
    row = _wait(lambda: TaskResult.objects.filter(task_id=source.task_id).exclude(status="STARTED").first(),
                10, "task result")
    # FAILURE, unless the killed child's last act was to find its claim gone (then it says so).
    assert row.status == "FAILURE" or "superseded" in (row.result or ""), (row.status, row.result)
    # The message was acknowledged (a hard limit rejects without requeue): nothing waits to run again.
    assert broker.queue_length("documents") == 0
    quick = _file_source(chatbot, b"small and quick", name="ok.txt")
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": quick.pk}, task_id=quick.task_id)
    # The worker still consumes (a 1-second limit may also stop a tiny file on a loaded machine).
    quick = wait_for_source(quick.pk, timeout=60)
    assert quick.status == "completed" or quick.error_code == "timeout"


@pytest.mark.brokers("rabbitmq")  # on Redis: tests/sources/test_crash_recovery.py
def test_killed_pool_child_is_requeued_and_completes_once(chatbot, broker):
    """reject_on_worker_lost: the lost child's message goes back to the queue and runs again, once."""
    worker = broker.start_worker()
    source = _file_source(chatbot, big_csv(600_000))
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    _wait(_reading(source.pk, 1), 90, "processing to start")

    assert worker.kill_pool_children() > 0

    source = wait_for_source(source.pk, timeout=120)
    assert source.status == "completed", (source.error_code, source.error_message, worker.log_tail())
    assert source.attempts == 2  # one lost delivery, one that finished
    _assert_one_chunk_set(source)
    assert broker.queue_length("documents") == 0


@pytest.mark.brokers("rabbitmq")
def test_whole_worker_killed_on_rabbitmq_is_redelivered_to_another_worker_without_the_reaper(chatbot, broker):
    """RabbitMQ requeues an unacknowledged message when its consumer's connection drops: a SIGKILLed
    worker's task goes to the next worker at once (Redis waits for the visibility timeout, or the
    reaper: test_whole_worker_killed_is_taken_up_again_by_the_reaper)."""
    first = broker.start_worker()
    source = _file_source(chatbot, big_csv(600_000))
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    _wait(_reading(source.pk, 1), 90, "processing to start")

    first.kill_all()  # main process and children: no ack, no reject; only the dropped connection tells
    _wait(lambda: broker.queue_length("documents") == 1, 30, "RabbitMQ to requeue the message")
    second = broker.start_worker()  # no beat, so no reaper: only the broker can hand the task over
    source = wait_for_source(source.pk, timeout=120)

    assert source.status == "completed", (source.error_code, source.error_message, second.log_tail())
    assert source.attempts == 2
    _assert_one_chunk_set(source)
    assert broker.queue_length("documents") == 0
    assert source.task_id in second.log_path.read_text(errors="replace")


@pytest.mark.parametrize("bad", [None, "abc", 999999])
def test_bad_task_arguments_fail_clearly_without_retries(celery_worker, bad):
    from sources.tasks import process_document

    result = process_document.delay(bad)
    result.get(timeout=20, propagate=False)

    assert result.state == "FAILURE"
    message = str(result.result)
    assert "source id" in message or "no source with id" in message
    rows = TaskResult.objects.filter(task_id=result.id)
    assert [r.status for r in rows] == ["FAILURE"]
    assert "Retry" not in celery_worker.log_tail(400).split(result.id)[-1][:2000]
