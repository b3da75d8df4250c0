"""send_notification run in-process (eager): thin wrapper, task-id dedupe, what it retries and what it never does."""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError

from botsmith.errors import ProcessingError
from notifications import tasks
from notifications.dispatch import enqueue_notification
from notifications.models import Notification
from notifications.tasks import send_notification

pytestmark = pytest.mark.django_db


def test_original_call_returns_the_notification_as_json(user):
    result = send_notification.apply(
        kwargs={"user_id": user.id, "title": "Test Notification", "message": "Celery is working!",
                "notification_type": "info"}
    )

    payload = result.get()
    row = Notification.objects.get()
    assert payload["id"] == row.id
    assert payload["user_id"] == user.id
    assert (payload["title"], payload["message"], payload["notification_type"]) == (
        "Test Notification", "Celery is working!", "info")
    assert payload["created_at"] == row.created_at.isoformat()
    assert row.dedupe_key == f"task:{result.id}"


def test_positional_call_and_keyword_only_extras(user):
    payload = send_notification.apply(
        args=(user.id, "Report ready", "Your weekly report is ready.", "success"),
        kwargs={"link_kind": "report", "link_id": "17", "dedupe_key": "report:17"},
    ).get()

    row = Notification.objects.get()
    assert (row.link_kind, row.link_id, row.dedupe_key, row.notification_type) == (
        "report", "17", "report:17", "success")
    assert payload["link_kind"] == "report"


def test_redelivery_with_the_same_task_id_creates_one_notification(user):
    task_id = str(uuid.uuid4())
    kwargs = {"user_id": user.id, "title": "Once", "message": "only once"}

    first = send_notification.apply(kwargs=kwargs, task_id=task_id).get()
    second = send_notification.apply(kwargs=kwargs, task_id=task_id).get()

    assert first["id"] == second["id"]
    assert Notification.objects.count() == 1


def test_invalid_argument_fails_once_without_retry(user, monkeypatch):
    calls = []
    real = tasks.deliver_notification

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tasks, "deliver_notification", spy)

    result = send_notification.apply(kwargs={"user_id": 999_999, "title": "x", "message": "y"})

    assert result.state == "FAILURE"
    assert isinstance(result.result, ProcessingError)
    assert "No user with id 999999" in str(result.result)
    assert len(calls) == 1
    assert Notification.objects.count() == 0


def test_transient_database_error_is_retried_with_the_same_dedupe_key(user, monkeypatch):
    keys = []
    real = tasks.deliver_notification

    def flaky(**kwargs):
        keys.append(kwargs["dedupe_key"])
        if len(keys) == 1:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(tasks, "deliver_notification", flaky)

    result = send_notification.apply(kwargs={"user_id": user.id, "title": "x", "message": "y"})

    assert len(keys) == 2 and keys[0] == keys[1] == f"task:{result.id}"
    assert Notification.objects.count() == 1


def test_enqueue_sends_the_task_only_after_commit(user, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(send_notification, "apply_async", lambda *a, **kw: sent.append(kw))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_notification(user_id=user.id, title="Done", message="source ready", notification_type="success",
                             link_kind="source", link_id=5)
        assert sent == []  # not before commit

    assert len(callbacks) == 1
    assert sent == [{"kwargs": {
        "user_id": user.id, "title": "Done", "message": "source ready", "notification_type": "success",
        "link_kind": "source", "link_id": "5", "dedupe_key": None,
    }}]
