"""deliver_notification: validation writes nothing, dedupe keys make it idempotent, e-mail once."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import IntegrityError
from django.test import override_settings

from botsmith.errors import ErrorCode, ProcessingError
from notifications.models import Notification
from notifications.services import deliver_notification, notification_payload
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def _deliver(user_id: object, **overrides: object):
    kwargs = {"user_id": user_id, "title": "Hello", "message": "World", **overrides}
    return deliver_notification(**kwargs)


def test_creates_the_notification_with_its_fields(user):
    notification, created = _deliver(
        user.id, notification_type="success", link_kind="source", link_id=42, title="  Ready  "
    )

    assert created
    row = Notification.objects.get()
    assert row == notification
    assert (row.user_id, row.title, row.message, row.notification_type) == (user.id, "Ready", "World", "success")
    assert (row.link_kind, row.link_id, row.read_at, row.dedupe_key) == ("source", "42", None, None)


def test_payload_is_json_ready(user):
    notification, _ = _deliver(user.id)

    payload = notification_payload(notification)

    assert payload == {
        "id": notification.id, "user_id": user.id, "title": "Hello", "message": "World",
        "notification_type": "info", "link_kind": None, "link_id": None,
        "created_at": notification.created_at.isoformat(), "read_at": None,
    }


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"user_id": 999_999}, "No user with id 999999"),
        ({"user_id": "abc"}, "user_id must be an integer"),
        ({"user_id": True}, "user_id must be an integer"),
        ({"user_id": None}, "user_id must be an integer"),
        ({"notification_type": "urgent"}, "Unknown notification type 'urgent'"),
        ({"title": ""}, "title must not be empty"),
        ({"title": "   \n"}, "title must not be empty"),
        ({"title": None}, "title must not be empty"),
        ({"title": "t" * 201}, "title is 201 characters long; the limit is 200"),
        ({"message": "m" * 5001}, "message is 5001 characters long; the limit is 5000"),
        ({"message": 12}, "message must be text"),
        ({"link_kind": "source"}, "link_kind and link_id go together"),
        ({"link_kind": "source", "link_id": "9" * 65}, "link_id must be non-empty"),
        ({"dedupe_key": ""}, "dedupe_key must be"),
    ],
)
def test_invalid_arguments_raise_invalid_argument_and_write_nothing(user, overrides, fragment):
    args = {"user_id": user.id, **overrides}

    with pytest.raises(ProcessingError) as excinfo:
        _deliver(**args)

    assert excinfo.value.code == ErrorCode.INVALID_ARGUMENT
    assert fragment in excinfo.value.message
    assert Notification.objects.count() == 0


def test_limits_are_inclusive(user):
    _deliver(user.id, title="t" * 200, message="m" * 5000)

    assert Notification.objects.count() == 1


def test_same_dedupe_key_creates_one_row(user):
    first, created_first = _deliver(user.id, dedupe_key="source:1:ready")
    second, created_second = _deliver(user.id, dedupe_key="source:1:ready", title="Changed")

    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert list(Notification.objects.values_list("title", flat=True)) == ["Hello"]


def test_without_dedupe_key_each_call_creates_a_row(user):
    _deliver(user.id)
    _deliver(user.id)

    assert Notification.objects.count() == 2


@override_settings(EMAIL_BACKEND=LOCMEM, NOTIFICATIONS_EMAIL_ENABLED=True)
def test_email_sent_once_for_a_deduplicated_delivery(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(user.id, dedupe_key="k1", title="Your report is ready")
        _deliver(user.id, dedupe_key="k1", title="Your report is ready")

    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert mail.outbox[0].subject == "[BotSmith] Your report is ready"
    assert mail.outbox[0].body == "World"


@override_settings(EMAIL_BACKEND=LOCMEM, NOTIFICATIONS_EMAIL_ENABLED=True)
def test_email_waits_for_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _deliver(user.id)

    assert mail.outbox == []  # still inside the test's transaction
    assert len(callbacks) == 1


@override_settings(EMAIL_BACKEND=LOCMEM, NOTIFICATIONS_EMAIL_ENABLED=False)
def test_no_email_when_disabled(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(user.id)

    assert mail.outbox == []
    assert Notification.objects.count() == 1


@override_settings(EMAIL_BACKEND=LOCMEM, NOTIFICATIONS_EMAIL_ENABLED=True)
def test_no_email_for_a_user_without_address(django_capture_on_commit_callbacks):
    user = UserFactory(email="")
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(user.id)

    assert mail.outbox == []
    assert Notification.objects.filter(user=user).count() == 1


@override_settings(EMAIL_BACKEND=LOCMEM, NOTIFICATIONS_EMAIL_ENABLED=True)
def test_failed_email_keeps_the_notification(user, django_capture_on_commit_callbacks, monkeypatch, caplog):
    def broken_send_mail(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("notifications.services.send_mail", broken_send_mail)
    with django_capture_on_commit_callbacks(execute=True):
        notification, _ = _deliver(user.id)

    assert Notification.objects.filter(pk=notification.pk).exists()
    assert f"e-mail for notification {notification.pk}" in caplog.text


def test_losing_the_dedupe_race_returns_the_winners_row(user, monkeypatch):
    winner, _ = _deliver(user.id, dedupe_key="race")

    def lost_race(**kwargs):
        raise IntegrityError("UNIQUE constraint failed: notifications_notification.dedupe_key")

    monkeypatch.setattr(Notification.objects, "get_or_create", lost_race)
    notification, created = _deliver(user.id, dedupe_key="race")

    assert (notification.pk, created) == (winner.pk, False)
    assert Notification.objects.count() == 1


def test_other_integrity_errors_are_not_swallowed(user, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("FOREIGN KEY constraint failed")

    monkeypatch.setattr(Notification.objects, "get_or_create", broken)

    with pytest.raises(IntegrityError):
        _deliver(user.id, dedupe_key="fk")
