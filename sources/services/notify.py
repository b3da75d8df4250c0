"""Tells a source's owner it is ready or failed; sources uploaded together get one notice."""

from __future__ import annotations

import logging

from notifications.dispatch import enqueue_notification
from notifications.services import summarize_batch
from sources.models import Source

logger = logging.getLogger(__name__)


def notify_source_finished(source_id: int) -> None:
    """Called after a final status is committed. Idempotent: the dedupe key names the run or batch."""
    source = Source.objects.select_related("chatbot").filter(pk=source_id).first()
    if source is None or source.status not in (Source.Status.COMPLETED, Source.Status.FAILED):
        return
    owner_id = source.chatbot.owner_id
    if source.batch_id is not None:
        batch = list(
            Source.objects.filter(batch_id=source.batch_id).values_list("name", "status", "error_code", "pk")
        )
        if len(batch) > 1:
            if any(status in Source.ACTIVE_STATUSES for _, status, _, _ in batch):
                return  # the last one to finish sends the summary
            ok = [name for name, status, _, _ in batch if status == Source.Status.COMPLETED]
            failed = [(name, code or "failed") for name, status, code, _ in batch if status == Source.Status.FAILED]
            if not ok and not failed:
                return  # all cancelled: the owner did that themselves
            title, message, kind = summarize_batch(ok, failed)
            enqueue_notification(
                user_id=owner_id, title=title, message=message, notification_type=kind,
                link_kind="sources_batch", link_id=str(source.batch_id), dedupe_key=f"batch:{source.batch_id}",
            )
            return
    noun = "Website" if source.kind == Source.Kind.WEBSITE else "Document"
    if source.status == Source.Status.COMPLETED:
        title = f"{noun} ready: {source.name}"[:200]
        message = f"{source.name} is ready: {source.chunk_count} chunks added to {source.chatbot.name}."
        kind = "success"
    else:
        title = f"{noun} failed: {source.name}"[:200]
        message = f"{source.name} could not be processed: {source.error_message}"
        kind = "error"
    enqueue_notification(
        user_id=owner_id, title=title, message=message[:5000], notification_type=kind,
        link_kind="source", link_id=str(source.pk), dedupe_key=f"source:{source.pk}:run:{source.run_id}",
    )
