"""The reaper tells a pending source waiting in a long queue from one whose message was lost."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from sources.models import Source
from sources.services import dispatch, queue_state
from sources.services.reaper import reap_stuck_sources
from tests.worker import isolated_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_available")]


@pytest.fixture
def broker_app(monkeypatch):
    """The app the reaper publishes through and inspects, on its own key prefix: no worker
    consumes it, so a sent message stays in its queue."""
    prefix = f"reaper-{uuid.uuid4().hex[:8]}:"
    app = isolated_app(prefix)
    monkeypatch.setattr(dispatch, "app", app)
    yield app
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key.decode()[len(prefix):])
    app.close()


def _pending(chatbot, minutes_ago: float, *, publish: bool = False) -> Source:
    """A source admitted to a slot (``pending``) ``minutes_ago``; published to the broker or not."""
    source = Source(chatbot=chatbot, kind="file", name="a.txt", original_filename="a.txt", file_kind="txt")
    dispatch.prepare_run(source)
    source.file.save("a.txt", ContentFile(b"hello " * 50), save=False)
    source.save()
    if publish:
        dispatch.publish(source)  # admits it (fair queues) and sends its message
    Source.objects.filter(pk=source.pk).update(
        status=Source.Status.PENDING, updated_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    source.refresh_from_db()
    return source


def test_lost_message_is_requeued_within_minutes_and_a_queued_one_is_left_alone(
    chatbot, broker_app, settings, django_capture_on_commit_callbacks
):
    settings.LOST_PENDING_AFTER_SECONDS = 120
    settings.STUCK_PENDING_AFTER_SECONDS = 30 * 60
    waiting = _pending(chatbot, minutes_ago=5, publish=True)  # its message sits in the queue, behind a backlog
    lost = _pending(chatbot, minutes_ago=5)  # committed, but its message never reached the broker
    fresh = _pending(chatbot, minutes_ago=0.5)  # maybe between commit and publish: within the grace
    lost_task_id = lost.task_id

    with django_capture_on_commit_callbacks(execute=True):
        counts = reap_stuck_sources()

    for source in (waiting, lost, fresh):
        source.refresh_from_db()
    assert counts == {"requeued": 1, "failed": 0}
    assert (lost.status, lost.attempts) == ("pending", 1) and lost.task_id != lost_task_id
    assert lost.stage == "Requeued after a lost worker"
    assert waiting.attempts == 0 and fresh.attempts == 0
    queues = [dispatch.queue_for("file")]
    # The requeued source's new message is in the queue now; the old id is gone for good.
    assert queue_state.held_task_ids(broker_app, [lost.task_id, lost_task_id, waiting.task_id], queues) == {
        lost.task_id, waiting.task_id}

    # Idempotent: a second pass right after finds nothing to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stuck_sources() == {"requeued": 0, "failed": 0}


def test_a_source_pending_past_the_long_window_is_requeued_even_if_queued(
    chatbot, broker_app, settings, django_capture_on_commit_callbacks
):
    settings.STUCK_PENDING_AFTER_SECONDS = 30 * 60
    stuck = _pending(chatbot, minutes_ago=45, publish=True)

    with django_capture_on_commit_callbacks(execute=True):
        counts = reap_stuck_sources()

    stuck.refresh_from_db()
    assert counts["requeued"] == 1 and stuck.attempts == 1


def test_an_unreadable_broker_counts_every_message_as_held(chatbot, monkeypatch, settings):
    from celery import Celery

    down = Celery("down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    down.conf.broker_connection_timeout = 0.5
    down.conf.broker_connection_max_retries = 0
    monkeypatch.setattr(dispatch, "app", down)
    settings.LOST_PENDING_AFTER_SECONDS = 120
    source = _pending(chatbot, minutes_ago=5)

    assert queue_state.held_task_ids(down, [source.task_id], ["documents"]) == {source.task_id}


def test_a_message_delivered_and_not_yet_acknowledged_counts_as_held(broker_app):
    """Prefetched or retrying with a countdown: the worker holds it in Redis' ``unacked`` hash."""
    task_id = str(uuid.uuid4())
    with broker_app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.client.hset(channel.unacked_key, "tag-1", json.dumps([{"headers": {"id": task_id}}, "", "documents"]))

    assert queue_state.held_task_ids(broker_app, [task_id, str(uuid.uuid4())], ["documents"]) == {task_id}
