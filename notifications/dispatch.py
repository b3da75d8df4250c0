"""What other apps call to notify a user: enqueue the send task once their transaction commits."""

from __future__ import annotations

from functools import partial

from django.db import transaction

from .tasks import send_notification


def enqueue_notification(
    *,
    user_id: int,
    title: str,
    message: str,
    notification_type: str = "info",
    link_kind: str | None = None,
    link_id: str | int | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Send ``notifications.tasks.send_notification`` after the current transaction commits.

    After commit, so the notice never announces a status that was rolled back, and the worker sees
    the committed rows. Arguments are validated by the task (a bad one ends as a FAILURE result),
    so a notification problem never breaks the caller's transaction.
    """
    kwargs = {
        "user_id": user_id,
        "title": title,
        "message": message,
        "notification_type": notification_type,
        "link_kind": link_kind,
        "link_id": str(link_id) if link_id is not None else None,
        "dedupe_key": dedupe_key,
    }
    transaction.on_commit(partial(send_notification.apply_async, kwargs=kwargs))
