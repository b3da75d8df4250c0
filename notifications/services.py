"""Write paths for notifications: validated, idempotent delivery (row + e-mail) and read state."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from botsmith.errors import ErrorCode, ProcessingError

from .models import (
    DEDUPE_KEY_MAX_LENGTH,
    LINK_ID_MAX_LENGTH,
    LINK_KIND_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Notification,
    NotificationType,
)

logger = logging.getLogger(__name__)

BATCH_SUMMARY_MAX_ITEMS = 5
_NAME_CLIP = 120
_REASON_CLIP = 200


def _invalid(message: str) -> ProcessingError:
    return ProcessingError(ErrorCode.INVALID_ARGUMENT, message)


def _clean_arguments(
    *,
    user_id: Any,
    title: Any,
    message: Any,
    notification_type: Any,
    link_kind: Any,
    link_id: Any,
    dedupe_key: Any,
) -> dict[str, Any]:
    """Every check that needs no database; raises ProcessingError before anything is written."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise _invalid(f"user_id must be an integer, got {user_id!r}.")
    if notification_type not in NotificationType.values:
        allowed = ", ".join(NotificationType.values)
        raise _invalid(f"Unknown notification type {notification_type!r}; expected one of: {allowed}.")
    if not isinstance(title, str) or not title.strip():
        raise _invalid("The notification title must not be empty.")
    title = title.strip()
    if len(title) > TITLE_MAX_LENGTH:
        raise _invalid(f"The notification title is {len(title)} characters long; the limit is {TITLE_MAX_LENGTH}.")
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise _invalid(f"The notification message must be text, got {type(message).__name__}.")
    message = message.strip()
    if len(message) > MESSAGE_MAX_LENGTH:
        raise _invalid(
            f"The notification message is {len(message)} characters long; the limit is {MESSAGE_MAX_LENGTH}."
        )
    if (link_kind is None) != (link_id is None):
        raise _invalid("link_kind and link_id go together: give both or neither.")
    if link_kind is not None:
        if not isinstance(link_kind, str) or not link_kind.strip() or len(link_kind) > LINK_KIND_MAX_LENGTH:
            raise _invalid(f"link_kind must be a non-empty text of at most {LINK_KIND_MAX_LENGTH} characters.")
        if isinstance(link_id, bool) or not isinstance(link_id, str | int):
            raise _invalid(f"link_id must be text or an integer, got {type(link_id).__name__}.")
        link_id = str(link_id)
        if not link_id or len(link_id) > LINK_ID_MAX_LENGTH:
            raise _invalid(f"link_id must be non-empty and at most {LINK_ID_MAX_LENGTH} characters.")
    if dedupe_key is not None and (
        not isinstance(dedupe_key, str) or not dedupe_key or len(dedupe_key) > DEDUPE_KEY_MAX_LENGTH
    ):
        raise _invalid(f"dedupe_key must be a non-empty text of at most {DEDUPE_KEY_MAX_LENGTH} characters.")
    return {
        "title": title,
        "message": message,
        "notification_type": notification_type,
        "link_kind": link_kind,
        "link_id": link_id,
    }


def deliver_notification(
    *,
    user_id: int,
    title: str,
    message: str,
    notification_type: str = NotificationType.INFO,
    link_kind: str | None = None,
    link_id: str | int | None = None,
    dedupe_key: str | None = None,
) -> tuple[Notification, bool]:
    """Create the notification (once per ``dedupe_key``) and e-mail it; returns ``(notification, created)``.

    Invalid arguments raise ProcessingError(INVALID_ARGUMENT) and write nothing. A second call with
    the same ``dedupe_key`` returns the existing row and sends no second e-mail, so a redelivered
    task is a no-op.
    """
    fields = _clean_arguments(
        user_id=user_id,
        title=title,
        message=message,
        notification_type=notification_type,
        link_kind=link_kind,
        link_id=link_id,
        dedupe_key=dedupe_key,
    )
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise _invalid(f"No user with id {user_id}.")

    with transaction.atomic():
        if dedupe_key is None:
            notification, created = Notification.objects.create(user=user, **fields), True
        else:
            try:
                notification, created = Notification.objects.get_or_create(
                    dedupe_key=dedupe_key, defaults={"user": user, **fields}
                )
            except IntegrityError:
                # A concurrent delivery with the same key committed between get_or_create's insert
                # and its re-read: read once more; anything else is a real integrity error.
                existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
                if existing is None:
                    raise
                notification, created = existing, False
        if created and settings.NOTIFICATIONS_EMAIL_ENABLED and user.email:
            # After commit: no e-mail for a notification whose transaction is rolled back.
            transaction.on_commit(partial(_send_email, notification.pk, user.email, fields["title"], fields["message"]))
    if not created and notification.user_id != user_id:
        logger.warning(
            "dedupe_key %r already used by notification %s of user %s; nothing sent to user %s",
            dedupe_key, notification.pk, notification.user_id, user_id,
        )
    return notification, created


def _send_email(notification_id: int, address: str, title: str, message: str) -> None:
    subject = " ".join(f"[BotSmith] {title}".split())  # a header: no line breaks
    try:
        send_mail(subject, message or title, None, [address])
    except Exception:
        # The in-app notification is already delivered; a mail outage must not fail (or retry) it.
        logger.exception("e-mail for notification %s to %s failed", notification_id, address)


def notification_payload(notification: Notification) -> dict[str, Any]:
    """The JSON a task returns for a delivered notification."""
    return {
        "id": notification.pk,
        "user_id": notification.user_id,
        "title": notification.title,
        "message": notification.message,
        "notification_type": notification.notification_type,
        "link_kind": notification.link_kind,
        "link_id": notification.link_id,
        "created_at": notification.created_at.isoformat(),
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
    }


def mark_notifications_read(notifications: QuerySet[Notification]) -> int:
    """Mark the unread ones read (read ones keep their first read time); returns how many changed."""
    return notifications.filter(read_at__isnull=True).update(read_at=timezone.now())


def mark_notifications_unread(notifications: QuerySet[Notification]) -> int:
    return notifications.filter(read_at__isnull=False).update(read_at=None)


def mark_notification_read(notification: Notification) -> Notification:
    """Idempotent: a second call leaves the first read time."""
    mark_notifications_read(Notification.objects.filter(pk=notification.pk))
    notification.refresh_from_db(fields=["read_at"])
    return notification


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:BATCH_SUMMARY_MAX_ITEMS])
    rest = len(items) - BATCH_SUMMARY_MAX_ITEMS
    return f"{shown} and {rest} more" if rest > 0 else shown


def summarize_batch(names_ok: Sequence[str], failures: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
    """``(title, message, notification_type)`` for a finished batch of documents.

    success when nothing failed, error when everything failed, warning when mixed. The message
    names the failures (or, when none failed, the documents) and stops after five with "and N more",
    so it stays within the notification's limits whatever the file names.
    """
    ok, failed = len(names_ok), len(failures)
    if ok == 0 and failed == 0:
        return "No documents processed", "The batch contained no documents.", NotificationType.INFO.value
    if failed == 0:
        title = f"{_plural(ok, 'document')} ready"
        details = _listing([_clip(name, _NAME_CLIP) for name in names_ok])
        kind = NotificationType.SUCCESS
    else:
        title = f"{_plural(ok, 'document')} ready, {failed} failed" if ok else f"{_plural(failed, 'document')} failed"
        details = _listing(
            [
                f"{_clip(name, _NAME_CLIP)} ({_clip(reason, _REASON_CLIP)})" if reason else _clip(name, _NAME_CLIP)
                for name, reason in failures
            ]
        )
        kind = NotificationType.WARNING if ok else NotificationType.ERROR
    return title, f"{title}: {details}", kind.value
