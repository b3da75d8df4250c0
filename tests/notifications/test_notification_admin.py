"""Notification admin: list with filters and search, mark read/unread actions, the send form."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from notifications.tasks import send_notification
from tests.factories import UserFactory
from tests.notifications.factories_notifications import NotificationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_notification_changelist"
SEND = "admin:notifications_notification_send"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_changelist_renders_with_filters_search_and_send_button(admin_client, user):
    NotificationFactory(user=user, title="Report ready")
    NotificationFactory(user=user, title="Read one", read_at=timezone.now())
    url = reverse(CHANGELIST)

    page = admin_client.get(url)
    assert page.status_code == 200
    assert reverse(SEND).encode() in page.content
    assert admin_client.get(url, {"read": "no"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"read": "yes"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": user.email}).context["cl"].result_count == 2
    assert admin_client.get(url, {"q": "Report"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"notification_type__exact": "error"}).context["cl"].result_count == 0


def test_mark_read_and_unread_actions(admin_client, user):
    first, second = NotificationFactory.create_batch(2, user=user)
    url = reverse(CHANGELIST)

    admin_client.post(url, {"action": "mark_read", "_selected_action": [first.pk, second.pk]})
    assert Notification.objects.filter(read_at__isnull=True).count() == 0

    admin_client.post(url, {"action": "mark_unread", "_selected_action": [first.pk]})
    assert list(Notification.objects.filter(read_at__isnull=True)) == [first]


def test_send_form_renders(admin_client):
    response = admin_client.get(reverse(SEND))

    assert response.status_code == 200
    assert b'name="users"' in response.content and b'name="title"' in response.content


def test_send_queues_one_task_per_user_and_the_tasks_create_the_notifications(
    admin_client, monkeypatch, django_capture_on_commit_callbacks
):
    alice, bob = UserFactory(), UserFactory()
    sent = []
    monkeypatch.setattr(send_notification, "apply_async", lambda *a, **kw: sent.append(kw["kwargs"]))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(SEND),
            {"users": [alice.pk, bob.pk], "title": "Maintenance", "message": "Tonight 22:00",
             "notification_type": "warning"},
            follow=True,
        )

    assert response.status_code == 200
    assert "Notification queued for 2 user(s)." in response.content.decode()
    assert sorted(k["user_id"] for k in sent) == sorted([alice.pk, bob.pk])
    for kwargs in sent:  # what the worker would run
        send_notification.apply(kwargs=kwargs).get()
    rows = Notification.objects.order_by("user_id")
    assert [(n.user_id, n.title, n.notification_type) for n in rows] == [
        (alice.pk, "Maintenance", "warning"), (bob.pk, "Maintenance", "warning")]


def test_send_with_invalid_form_shows_errors_and_sends_nothing(admin_client, monkeypatch):
    sent = []
    monkeypatch.setattr(send_notification, "apply_async", lambda *a, **kw: sent.append(kw))

    response = admin_client.post(reverse(SEND), {"users": [], "title": "", "notification_type": "info"})

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"users", "title"}
    assert sent == []


def test_send_requires_staff(client, user):
    client.force_login(user)

    response = client.get(reverse(SEND))

    assert response.status_code == 302  # to the admin login
