"""A source's run from claim to finish: status changes, heartbeats, cancellation and retries.

Every write of a run is guarded by its ``run_id``: a run that was superseded (reprocessed,
reaped, deleted) finds its updates matching no row and stops instead of overwriting newer state.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Source
from sources.services import chunk_store, dispatch
from sources.services.notify import notify_source_finished
from sources.signals import chunks_activated

logger = logging.getLogger(__name__)


class RunSuperseded(Exception):
    """The run lost its claim (source deleted, reprocessed or reaped): stop without writing."""


class RunCancelled(Exception):
    """The owner cancelled the source while it was processing."""


@dataclass(frozen=True)
class Claim:
    source: Source
    run_id: uuid.UUID
    generation: int


@dataclass(frozen=True)
class Skip:
    reason: str
    status: str


def claim_source(source_id: Any, task_id: str | None, *, kind: str | None = None) -> Claim | Skip:
    """Take the source for this delivery, or say why there is nothing to do.

    Claimable: ``pending`` (whatever task id it waits for), or ``processing`` by this same task id
    (a redelivery after a crash) or with a stale heartbeat. A source claimed more than
    ``PROCESSING_MAX_ATTEMPTS`` times in one run ends ``failed``: it crashes its workers.
    """
    source_id = validate_source_id(source_id)
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.STUCK_PROCESSING_AFTER_SECONDS)
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(pk=source_id).first()
        if source is None:
            raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"There is no source with id {source_id}.")
        if kind is not None and source.kind != kind:
            raise ProcessingError(
                ErrorCode.INVALID_ARGUMENT, f"Source {source_id} is a {source.kind} source, not a {kind} source."
            )
        if source.is_finished:
            return Skip(f"already {source.status}", source.status)
        if source.status == Source.Status.PROCESSING:
            redelivered = bool(task_id) and source.task_id == task_id
            stale = source.heartbeat_at is None or source.heartbeat_at < stale_before
            if not (redelivered or stale):
                return Skip("already processing in another task", source.status)
        if source.cancel_requested:
            finish_source(source, Source.Status.CANCELLED, stage="Cancelled")
            return Skip("cancelled before it started", Source.Status.CANCELLED)
        source.attempts += 1
        if source.attempts > settings.PROCESSING_MAX_ATTEMPTS:
            source.error_code = ErrorCode.CRASHED
            source.error_message = (
                f"Processing crashed repeatedly ({source.attempts - 1} attempts); this file cannot be processed."
            )
            finish_source(source, Source.Status.FAILED, stage="Failed")
            return Skip("crashed repeatedly", Source.Status.FAILED)
        source.status = Source.Status.PROCESSING
        source.run_id = uuid.uuid4()
        source.generation = max(source.generation, source.active_generation) + 1
        if task_id:
            source.task_id = task_id
        source.started_at = now
        source.heartbeat_at = now
        source.finished_at = None
        source.progress = 0
        source.stage = "Starting"
        source.error_code = ""
        source.error_message = ""
        source.notices = []
        source.save()
    return Claim(source=source, run_id=source.run_id, generation=source.generation)


def validate_source_id(source_id: Any) -> int:
    if isinstance(source_id, bool) or source_id is None:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"A source id is required, got {source_id!r}.")
    try:
        value = int(source_id)
    except (TypeError, ValueError):
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"A source id must be an integer, got {source_id!r}."
        ) from None
    if value <= 0 or str(value) != str(source_id).strip():
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"A source id must be a positive integer, got {source_id!r}.")
    return value


def claim_guard(claim: Claim) -> Callable[[], None]:
    """For ChunkWriter: lock the source row and check the run still holds it (else RunSuperseded).

    The row lock serialises each batch with ``fail_source_id``/``complete_run``, so no staged row
    can land after the run was ended elsewhere.
    """

    def guard() -> None:
        held = Source.objects.select_for_update().filter(
            pk=claim.source.pk, run_id=claim.run_id, status=Source.Status.PROCESSING
        ).values_list("pk", flat=True)
        if not list(held):
            raise RunSuperseded()

    return guard


class RunReporter:
    """Throttled progress and heartbeat writes; checks for cancellation at the same pace."""

    def __init__(self, claim: Claim, interval: float | None = None) -> None:
        self.claim = claim
        self.interval = settings.HEARTBEAT_INTERVAL_SECONDS if interval is None else interval
        self._last = 0.0

    def report(self, *, progress: int, stage: str, force: bool = False, **fields: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        updated = Source.objects.filter(
            pk=self.claim.source.pk, run_id=self.claim.run_id, status=Source.Status.PROCESSING
        ).update(
            progress=max(0, min(progress, 99)), stage=stage[:120], heartbeat_at=timezone.now(), **fields
        )
        if not updated:
            raise RunSuperseded()
        if Source.objects.filter(pk=self.claim.source.pk, cancel_requested=True).exists():
            raise RunCancelled()


def complete_run(claim: Claim, *, counts: dict[str, Any], stage: str = "Done") -> Source:
    """Swap the staged chunks in and mark the source completed, in one transaction."""
    with transaction.atomic():
        source = (
            Source.objects.select_for_update()
            .filter(pk=claim.source.pk, run_id=claim.run_id, status=Source.Status.PROCESSING)
            .first()
        )
        if source is None:
            raise RunSuperseded()
        chunk_store.activate_generation(source.pk, claim.generation)
        for key, value in counts.items():
            setattr(source, key, value)
        source.active_generation = claim.generation
        source.progress = 100
        finish_source(source, Source.Status.COMPLETED, stage=stage)
        chunks_activated.send(sender=Source, source_id=source.pk)
    return source


def fail_run(claim: Claim, code: str, message: str) -> Source | None:
    """Mark the run failed and drop its staged chunks; the previous chunk set stays active."""
    return _end_run(claim, Source.Status.FAILED, stage="Failed", error_code=code, error_message=message)


def cancel_run(claim: Claim) -> Source | None:
    return _end_run(claim, Source.Status.CANCELLED, stage="Cancelled")


def _end_run(claim: Claim, status: str, *, stage: str, **fields: Any) -> Source | None:
    chunk_store.discard_generation(claim.source.pk, claim.generation)
    with transaction.atomic():
        source = (
            Source.objects.select_for_update()
            .filter(pk=claim.source.pk, run_id=claim.run_id, status=Source.Status.PROCESSING)
            .first()
        )
        if source is None:
            return None
        for key, value in fields.items():
            setattr(source, key, value)
        finish_source(source, status, stage=stage)
    return source


def finish_source(source: Source, status: str, *, stage: str) -> None:
    """Inside a transaction: write the final status; the owner is notified after commit.

    Staged chunks of any earlier, crashed run are dropped here too, so a finished source only
    ever has its one active set.
    """
    chunk_store.discard_inactive(source.pk)
    source.status = status
    source.stage = stage
    source.finished_at = timezone.now()
    source.heartbeat_at = None
    source.cancel_requested = False
    source.save()
    transaction.on_commit(lambda: notify_source_finished(source.pk))
    # The finished run frees a slot of its chatbot: start its next queued source. Robust: a failed
    # release must not fail a finished run; the reaper's sweep fills the slot later.
    transaction.on_commit(lambda: dispatch.release_queued(source.chatbot_id), robust=True)


def caused_by(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """True when ``exc`` or anything in its cause/context chain is one of ``types``.

    A soft time limit raised inside a database call surfaces as the driver's error about the
    interrupted query, with the time limit only in its chain.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, types):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def reset_connection() -> None:
    """Drop the database connection after an exception interrupted it mid-query (a soft time limit).

    The next query reconnects, and Django's connect() resets the transaction state.
    """
    try:
        connection.close()
    except Exception:  # the connection is already broken; closing is best effort
        logger.warning("could not close a broken database connection", exc_info=True)


def fail_source_id(source_id: Any, code: str, message: str) -> None:
    """Fail whatever run a source is in (used when retries are exhausted)."""
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(pk=source_id).first()
        if source is None or source.is_finished:
            return
        if source.generation != source.active_generation:
            chunk_store.discard_generation(source.pk, source.generation)
        source.error_code = code
        source.error_message = message
        source.run_id = None  # a run still going somewhere finds its claim gone and stops
        finish_source(source, Source.Status.FAILED, stage="Failed")
