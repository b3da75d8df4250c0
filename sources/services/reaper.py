"""Finds sources whose run died (no heartbeat) or never started, and requeues or fails them."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from botsmith.errors import ErrorCode
from sources.models import Source
from sources.services import dispatch
from sources.services.lifecycle import finish_source

logger = logging.getLogger(__name__)


def reap_stuck_sources() -> dict[str, int]:
    """Requeue while attempts remain, else fail with a clear message; then fill free slots. Returns counts."""
    now = timezone.now()
    dead_before = now - timedelta(seconds=settings.STUCK_PROCESSING_AFTER_SECONDS)
    waiting_before = now - timedelta(seconds=settings.STUCK_PENDING_AFTER_SECONDS)
    stuck = Source.objects.filter(
        Q(status=Source.Status.PROCESSING) & (Q(heartbeat_at__lt=dead_before) | Q(heartbeat_at__isnull=True))
        | Q(status=Source.Status.PENDING, updated_at__lt=waiting_before)
    ).values_list("pk", flat=True)
    counts = {"requeued": 0, "failed": 0}
    for source_id in list(stuck[:500]):
        with transaction.atomic():
            source = Source.objects.select_for_update().filter(pk=source_id).first()
            if source is None or source.status not in Source.ACTIVE_STATUSES:
                continue
            still_stuck = (
                source.status == Source.Status.PENDING and source.updated_at < waiting_before
            ) or (
                source.status == Source.Status.PROCESSING
                and (source.heartbeat_at is None or source.heartbeat_at < dead_before)
            )
            if not still_stuck:
                continue
            if source.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
                crashed = source.status == Source.Status.PROCESSING
                source.error_code = ErrorCode.CRASHED if crashed else ErrorCode.TIMEOUT
                source.error_message = (
                    "Processing crashed repeatedly and was stopped."
                    if crashed
                    else "No worker picked this source up in time; please try again."
                )
                finish_source(source, Source.Status.FAILED, stage="Failed")
                counts["failed"] += 1
                continue
            if source.status == Source.Status.PENDING:
                source.attempts += 1  # a lost queue message counts as an attempt too
                source.save(update_fields=["attempts"])
        if source.status in Source.ACTIVE_STATUSES:
            logger.warning("requeueing stuck source %s (status %s, attempts %s)", source.pk, source.status,
                           source.attempts)
            dispatch.requeue(source.pk)
            counts["requeued"] += 1
    # Fair queues: fill slots freed above, or left free by a crash between admission and sending.
    released = dispatch.release_queued()
    if released:
        logger.info("reaper: released %s queued source(s)", released)
    return counts
