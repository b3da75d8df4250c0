"""Celery tasks of the notifications app (queue ``notifications``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import OperationalError

from botsmith.errors import ProcessingError

from .services import deliver_notification, notification_payload

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="notifications.tasks.send_notification",
    acks_late=True,
    reject_on_worker_lost=True,
    # Only a transient database error (SQLite lock, dropped connection) is retried; the dedupe key
    # makes the retry a no-op if the first attempt committed. Invalid arguments never are.
    autoretry_for=(OperationalError,),
    dont_autoretry_for=(ProcessingError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def send_notification(
    self: Task,
    user_id: int,
    title: str,
    message: str,
    notification_type: str = "info",
    *,
    link_kind: str | None = None,
    link_id: str | None = None,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    """Deliver one notification; returns it as JSON. Invalid arguments end as FAILURE, not retried."""
    if dedupe_key is None and self.request.id:
        # A redelivered message (late ack, worker lost) carries the same task id.
        dedupe_key = f"task:{self.request.id}"
    try:
        notification, created = deliver_notification(
            user_id=user_id,
            title=title,
            message=message,
            notification_type=notification_type,
            link_kind=link_kind,
            link_id=link_id,
            dedupe_key=dedupe_key,
        )
    except ProcessingError as exc:
        logger.warning("send_notification %s rejected (%s): %s", self.request.id, exc.code, exc.message)
        raise
    if not created:
        logger.info("send_notification %s: notification %s already delivered", self.request.id, notification.pk)
    return notification_payload(notification)
