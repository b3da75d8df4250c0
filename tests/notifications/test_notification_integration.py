"""send_notification through a real worker on Redis: results, readable failures, no retry, redelivery."""

from __future__ import annotations

import time
import uuid

import pytest
from django.urls import reverse
from django_celery_results.models import TaskResult
from rest_framework.test import APIClient

from notifications.models import Notification
from notifications.tasks import send_notification
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_original_call_returns_the_notification_and_the_api_shows_it_to_its_user_only(celery_worker):
    user, other = UserFactory(), UserFactory()

    payload = send_notification.delay(
        user_id=user.id, title="Test Notification", message="Celery is working!", notification_type="info"
    ).get(timeout=10)

    row = Notification.objects.get(pk=payload["id"])
    assert (row.user_id, row.title, row.message, row.notification_type) == (
        user.id, "Test Notification", "Celery is working!", "info")
    assert payload["user_id"] == user.id and payload["read_at"] is None
    own, theirs = APIClient(), APIClient()
    own.force_authenticate(user)
    theirs.force_authenticate(other)
    assert [n["id"] for n in own.get("/api/notifications/").json()["results"]] == [row.id]
    assert theirs.get("/api/notifications/").json()["count"] == 0


def test_bad_argument_ends_as_a_readable_failure_without_retry(celery_worker):
    result = send_notification.delay(user_id=999999, title="x", message="y")

    result.get(timeout=10, propagate=False)

    assert result.state == "FAILURE"
    assert "No user with id 999999" in str(result.result)
    rows = TaskResult.objects.filter(task_id=result.id)
    assert rows.count() == 1
    row = rows.get()
    assert row.status == "FAILURE"
    assert "ProcessingError" in row.traceback and "No user with id 999999" in row.traceback
    assert "No user with id 999999" in row.result
    assert f"Task notifications.tasks.send_notification[{result.id}] retry" not in celery_worker.log_path.read_text()
    assert Notification.objects.count() == 0


def test_redelivered_message_creates_one_notification(celery_worker):
    user = UserFactory()
    task_id = str(uuid.uuid4())
    kwargs = {"user_id": user.id, "title": "Once", "message": "only once"}

    first = send_notification.apply_async(kwargs=kwargs, task_id=task_id).get(timeout=10)
    # The same message again (what Redis does after a lost ack); wait for its own result.
    TaskResult.objects.filter(task_id=task_id).delete()
    send_notification.apply_async(kwargs=kwargs, task_id=task_id)
    row = _wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first())

    assert f'"id": {first["id"]}' in row.result
    assert Notification.objects.filter(user=user).count() == 1


def test_admin_send_form_delivers_through_the_worker(celery_worker, client):
    alice, bob = UserFactory(), UserFactory()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:notifications_notification_send"),
        {"users": [alice.pk, bob.pk], "title": "Maintenance", "message": "Tonight", "notification_type": "warning"},
    )

    assert response.status_code == 302
    _wait_for(lambda: Notification.objects.filter(title="Maintenance").count() == 2)
    assert set(Notification.objects.values_list("user_id", flat=True)) == {alice.pk, bob.pk}


def test_two_copies_of_a_message_at_once_create_one_notification(celery_worker):
    user = UserFactory()
    task_id = str(uuid.uuid4())
    kwargs = {"user_id": user.id, "title": "Twice at once", "message": "race"}

    send_notification.apply_async(kwargs=kwargs, task_id=task_id)
    send_notification.apply_async(kwargs=kwargs, task_id=task_id)
    done = f"Task notifications.tasks.send_notification[{task_id}] succeeded"
    _wait_for(lambda: celery_worker.log_path.read_text().count(done) == 2)

    assert Notification.objects.filter(user=user).count() == 1
