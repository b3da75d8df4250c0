"""Finds sources whose run died (no heartbeat) or whose message was lost, and requeues or fails them.

Idempotent: every decision is re-checked on the locked row and the requeue happens in the same
transaction, so two reapers (or a reaper racing a worker) requeue a source at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from botsmith.errors import ErrorCode
from sources.models import Source
from sources.services import dispatch, queue_state
from sources.services.lifecycle import finish_source

logger = logging.getLogger(__name__)

BATCH = 500


def reap_stuck_sources() -> dict[str, int]:
    """Requeue while attempts remain, else fail with a clear message; then fill free slots. Returns counts.

    Stuck: ``processing`` without a fresh heartbeat; ``pending`` for ``STUCK_PENDING_AFTER_SECONDS``
    (a very long queue, or a broker that cannot tell); or ``pending`` for
    ``LOST_PENDING_AFTER_SECONDS`` while the broker holds no message for its task id (lost).
    """
    now = timezone.now()
    dead_before = now - timedelta(seconds=settings.STUCK_PROCESSING_AFTER_SECONDS)
    waiting_before = now - timedelta(seconds=settings.STUCK_PENDING_AFTER_SECONDS)
    lost_before = now - timedelta(seconds=settings.LOST_PENDING_AFTER_SECONDS)
    candidates = list(
        Source.objects.filter(
            Q(status=Source.Status.PROCESSING) & (Q(heartbeat_at__lt=dead_before) | Q(heartbeat_at__isnull=True))
            | Q(status=Source.Status.PENDING, updated_at__lt=lost_before)
        ).order_by("updated_at").values("pk", "status", "task_id", "updated_at")[:BATCH]
    )
    recent_pending = [
        c for c in candidates if c["status"] == Source.Status.PENDING and c["updated_at"] >= waiting_before
    ]
    held = queue_state.held_task_ids(
        dispatch.app, [c["task_id"] for c in recent_pending], (dispatch.queue_for(k) for k in Source.Kind.values)
    )
    lost = {c["pk"]: c["task_id"] for c in recent_pending if c["task_id"] not in held}
    counts = {"requeued": 0, "failed": 0}
    for candidate in candidates:
        if candidate["status"] == Source.Status.PENDING and candidate["updated_at"] >= waiting_before \
                and candidate["pk"] not in lost:
            continue  # waiting its turn: its message is in a queue or with a worker
        outcome = _reap_one(candidate, dead_before=dead_before, waiting_before=waiting_before, lost=lost)
        if outcome:
            counts[outcome] += 1
    # Fair queues: fill slots freed above, or left free by a crash between admission and sending.
    released = dispatch.release_queued()
    if released:
        logger.info("reaper: released %s queued source(s)", released)
    return counts


def _reap_one(candidate: Mapping[str, Any], *, dead_before: datetime, waiting_before: datetime,
              lost: dict[int, str]) -> str | None:
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(pk=candidate["pk"]).first()
        if source is None or source.status not in Source.ACTIVE_STATUSES:
            return None
        if source.status == Source.Status.PENDING:
            # Same task id and untouched since we looked: nothing requeued or claimed it meanwhile.
            unchanged = source.task_id == candidate["task_id"] and source.updated_at == candidate["updated_at"]
            still_stuck = unchanged and (source.updated_at < waiting_before or source.pk in lost)
        else:
            still_stuck = source.heartbeat_at is None or source.heartbeat_at < dead_before
        if not still_stuck:
            return None
        if source.attempts >= settings.PROCESSING_MAX_ATTEMPTS:
            crashed = source.status == Source.Status.PROCESSING
            source.error_code = ErrorCode.CRASHED if crashed else ErrorCode.TIMEOUT
            source.error_message = (
                "Processing crashed repeatedly and was stopped."
                if crashed
                else "No worker picked this source up in time; please try again."
            )
            finish_source(source, Source.Status.FAILED, stage="Failed")
            return "failed"
        if source.status == Source.Status.PENDING:
            source.attempts += 1  # a lost queue message counts as an attempt too
        logger.warning("requeueing stuck source %s (status %s, attempts %s, message lost: %s)", source.pk,
                       source.status, source.attempts, source.pk in lost)
        dispatch.requeue_locked(source)
    return "requeued"
