"""Retention cleanup: old conversations (per-chatbot retention), read notifications, task results, orphan files."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django_celery_results.models import TaskResult

from analytics.models import CleanupRun
from analytics.services.orphan_files import purge_orphan_files
from botsmith.errors import ErrorCode, ProcessingError
from botsmith.models import Chatbot, Conversation, Message
from notifications.models import Notification

logger = logging.getLogger(__name__)

MAX_DAYS = 36500  # a century: beyond it the cut-off date would overflow


@dataclass
class CleanupCounts:
    conversations: int = 0
    messages: int = 0
    notifications: int = 0
    task_results: int = 0
    files: int = 0
    per_chatbot: dict[str, dict[str, int | None]] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        data = asdict(self)
        data.pop("per_chatbot")
        return data


def validate_days(days: object) -> int:
    """``days`` as an int, or ProcessingError: strict, since a wrong value deletes real data."""
    minimum = settings.CLEANUP_MIN_DAYS
    if days is None:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "days is required: how many days of data to keep.")
    if type(days) is not int:  # bool, float, "30": refused, never coerced
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"days must be a whole number of days, not {type(days).__name__} {days!r}."
        )
    if days < minimum:
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"days={days} is below the minimum of {minimum} (CLEANUP_MIN_DAYS); refused."
        )
    if days > MAX_DAYS:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"days={days} is above the maximum of {MAX_DAYS}.")
    return days


def validate_dry_run(dry_run: object) -> bool:
    if type(dry_run) is not bool:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"dry_run must be true or false, not {dry_run!r}.")
    return dry_run


def _delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    """Delete by primary-key batches: short transactions, no table-wide lock, bounded memory."""
    deleted = 0
    while pks := list(queryset.values_list("pk", flat=True)[:batch_size]):
        count, _ = queryset.filter(pk__in=pks).delete()
        if not count:
            break  # rows changed under us; the next run will see them
        deleted += count
    return deleted


def _expired_conversation_groups(days: int, now: datetime) -> list[tuple[int | None, QuerySet[Conversation]]]:
    """(retention, queryset) per retention value: the task's ``days`` and each chatbot override."""
    groups: list[tuple[int | None, QuerySet[Conversation]]] = [
        (None, Conversation.objects.filter(
            chatbot__retention_days__isnull=True, last_activity_at__lt=now - timedelta(days=days)))
    ]
    overrides = (
        Chatbot.objects.filter(retention_days__isnull=False)
        .order_by("retention_days").values_list("retention_days", flat=True).distinct()
    )
    for value in overrides:
        effective = max(value, settings.CLEANUP_MIN_DAYS)
        groups.append((value, Conversation.objects.filter(
            chatbot__retention_days=value, last_activity_at__lt=now - timedelta(days=effective))))
    return groups


def _tally(per_chatbot: dict[str, dict[str, int | None]], rows: Any, key: str, retention: int | None) -> None:
    for chatbot_id, count in rows:
        entry = per_chatbot.setdefault(str(chatbot_id), {"retention_days": retention, "conversations": 0,
                                                          "messages": 0})
        entry[key] = (entry[key] or 0) + count


def _purge_conversations(counts: CleanupCounts, days: int, now: datetime, dry_run: bool, batch_size: int) -> None:
    for retention, queryset in _expired_conversation_groups(days, now):
        if dry_run:
            per_conv = queryset.values("chatbot_id").annotate(n=Count("id")).values_list("chatbot_id", "n")
            per_msg = (Message.objects.filter(conversation__in=queryset).values("conversation__chatbot_id")
                       .annotate(n=Count("id")).values_list("conversation__chatbot_id", "n"))
            conv_rows, msg_rows = list(per_conv.order_by()), list(per_msg.order_by())
        else:
            conv_rows, msg_rows = _delete_conversations(queryset, batch_size)
        _tally(counts.per_chatbot, conv_rows, "conversations", retention)
        _tally(counts.per_chatbot, msg_rows, "messages", retention)
        counts.conversations += sum(n for _, n in conv_rows)
        counts.messages += sum(n for _, n in msg_rows)


def _delete_conversations(
    queryset: QuerySet[Conversation], batch_size: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    conversations: dict[int, int] = defaultdict(int)
    messages: dict[int, int] = defaultdict(int)
    while rows := list(queryset.values_list("pk", "chatbot_id")[:batch_size]):
        pks = [pk for pk, _ in rows]
        with transaction.atomic():
            batch = queryset.filter(pk__in=pks)  # re-checks the age: a new message saves a conversation
            for chatbot_id, n in (Message.objects.filter(conversation__in=batch).values("conversation__chatbot_id")
                                  .annotate(n=Count("id")).order_by().values_list("conversation__chatbot_id", "n")):
                messages[chatbot_id] += n
            kept = dict(batch.values_list("pk", "chatbot_id"))
            _, by_model = batch.delete()
        if not by_model.get(Conversation._meta.label, 0):
            break
        for chatbot_id in kept.values():
            conversations[chatbot_id] += 1
    return sorted(conversations.items()), sorted(messages.items())


def purge_old_data(days: int, dry_run: bool = False, batch_size: int | None = None,
                   now: datetime | None = None) -> CleanupCounts:
    """Delete (or, with ``dry_run``, count) everything older than the retention; returns counts per kind."""
    days = validate_days(days)
    dry_run = validate_dry_run(dry_run)
    batch_size = batch_size or settings.CLEANUP_BATCH_SIZE
    now = now or timezone.now()
    counts = CleanupCounts()
    _purge_conversations(counts, days, now, dry_run, batch_size)

    notifications = Notification.objects.filter(read_at__isnull=False, created_at__lt=now - timedelta(days=days))
    results = TaskResult.objects.filter(date_done__lt=now - settings.CELERY_RESULT_EXPIRES)
    if dry_run:
        counts.notifications, counts.task_results = notifications.count(), results.count()
    else:
        counts.notifications = _delete_in_batches(notifications, batch_size)
        counts.task_results = _delete_in_batches(results, batch_size)
    counts.files = purge_orphan_files(now=now, dry_run=dry_run, batch_size=batch_size)
    return counts


def _jsonable(value: object) -> object:
    return value if value is None or isinstance(value, bool | int | float | str) else repr(value)


def run_cleanup(days: object, dry_run: object = False, *, task_id: str = "",
                batch_size: int | None = None) -> tuple[CleanupRun, CleanupCounts]:
    """purge_old_data with a CleanupRun row (one per task id: a retry updates it). Re-raises refusals."""
    arguments = {"days": _jsonable(days), "dry_run": _jsonable(dry_run)}
    defaults: dict[str, Any] = {"arguments": arguments, "status": CleanupRun.Status.RUNNING,
                                "dry_run": dry_run is True, "days": days if type(days) is int else None,
                                "error_message": "", "finished_at": None}
    if task_id:
        run, _ = CleanupRun.objects.update_or_create(task_id=task_id, defaults=defaults)
    else:
        run = CleanupRun.objects.create(**defaults)
    try:
        counts = purge_old_data(days, dry_run, batch_size)  # type: ignore[arg-type]
    except Exception as exc:
        run.status = CleanupRun.Status.FAILED
        run.error_message = str(exc)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error_message", "finished_at"])
        raise
    for name, value in counts.totals().items():
        setattr(run, name, value)
    run.per_chatbot = counts.per_chatbot
    run.status = CleanupRun.Status.COMPLETED
    run.finished_at = timezone.now()
    run.save()
    logger.info("cleanup run %s (days=%s, dry_run=%s): %s", run.pk, days, dry_run, counts.totals())
    return run, counts
