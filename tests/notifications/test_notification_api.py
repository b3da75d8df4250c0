"""The notifications API: own notifications only, unread filter and count, read state, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from tests.notifications.factories_notifications import NotificationFactory

pytestmark = pytest.mark.django_db

LIST = "/api/notifications/"


def _ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def test_list_shows_only_own_notifications_newest_first(api_client, user, other_user):
    old = NotificationFactory(user=user)
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    new = NotificationFactory(user=user, link_kind="source", link_id="7")
    NotificationFactory(user=other_user)

    response = api_client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert _ids(response) == [new.id, old.id]
    assert set(body["results"][0]) == {
        "id", "title", "message", "notification_type", "link_kind", "link_id", "is_read", "read_at", "created_at"}
    assert (body["results"][0]["link_kind"], body["results"][0]["link_id"]) == ("source", "7")
    assert body["results"][0]["is_read"] is False


def test_unread_filter(api_client, user):
    unread = NotificationFactory(user=user)
    read = NotificationFactory(user=user, read_at=timezone.now())

    assert _ids(api_client.get(LIST, {"unread": "true"})) == [unread.id]
    assert _ids(api_client.get(LIST, {"unread": "false"})) == [read.id]
    assert api_client.get(LIST, {"unread": "maybe"}).status_code == 400


def test_unread_count_counts_only_own_unread(api_client, user, other_user):
    NotificationFactory.create_batch(3, user=user)
    NotificationFactory(user=user, read_at=timezone.now())
    NotificationFactory(user=other_user)

    response = api_client.get(f"{LIST}unread-count/")

    assert response.status_code == 200
    assert response.json() == {"unread": 3}


def test_mark_read_sets_read_at_once(api_client, user):
    notification = NotificationFactory(user=user)

    first = api_client.post(f"{LIST}{notification.id}/read/")
    notification.refresh_from_db()
    read_at = notification.read_at
    second = api_client.post(f"{LIST}{notification.id}/read/")
    notification.refresh_from_db()

    assert first.status_code == second.status_code == 200
    assert first.json()["is_read"] is True
    assert read_at is not None
    assert notification.read_at == read_at  # idempotent: the first read time stays


def test_another_users_notification_is_404_for_read_retrieve_and_delete(api_client, other_user):
    theirs = NotificationFactory(user=other_user)

    assert api_client.get(f"{LIST}{theirs.id}/").status_code == 404
    assert api_client.post(f"{LIST}{theirs.id}/read/").status_code == 404
    assert api_client.delete(f"{LIST}{theirs.id}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_read_all_touches_only_own_unread(api_client, user, other_user):
    NotificationFactory.create_batch(2, user=user)
    already = NotificationFactory(user=user, read_at=timezone.now() - timedelta(hours=1))
    theirs = NotificationFactory(user=other_user)

    response = api_client.post(f"{LIST}read-all/")

    assert response.status_code == 200
    assert response.json() == {"marked": 2}
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=already.pk).read_at == already.read_at
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_delete_removes_own_notification(api_client, user):
    notification = NotificationFactory(user=user)

    response = api_client.delete(f"{LIST}{notification.id}/")

    assert response.status_code == 204
    assert not Notification.objects.filter(pk=notification.pk).exists()


def test_notifications_cannot_be_created_or_edited_through_the_api(api_client, user):
    notification = NotificationFactory(user=user)

    assert api_client.post(LIST, {"title": "x"}).status_code == 405
    assert api_client.patch(f"{LIST}{notification.id}/", {"title": "x"}).status_code == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "unread-count/"), ("post", "read-all/"), ("post", "1/read/"), ("delete", "1/")],
)
def test_anonymous_is_401(anon_client, method, path):
    assert getattr(anon_client, method)(f"{LIST}{path}").status_code == 401


def test_list_is_paginated(api_client, user):
    NotificationFactory.create_batch(3, user=user)

    response = api_client.get(LIST)

    body = response.json()
    assert body["count"] == 3 and "next" in body and "previous" in body
