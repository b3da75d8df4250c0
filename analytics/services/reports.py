"""Analytics reports: the figures of a chatbot over a window, and a report row's generation."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from analytics.models import AnalyticsReport
from analytics.periods import Window
from analytics.services.aggregates import percentile, rounded
from botsmith.errors import ErrorCode, ProcessingError
from botsmith.models import Chatbot, Conversation, Message
from notifications.dispatch import enqueue_notification
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)


def _daily_series(conversations: Any, messages: Any, window: Window) -> list[dict[str, Any]]:
    def per_day(queryset: Any, field: str) -> dict[str, int]:
        rows = (queryset.annotate(day=TruncDate(field, tzinfo=UTC)).values("day")
                .annotate(n=Count("id")).order_by().values_list("day", "n"))
        return {str(day): n for day, n in rows}

    conv_days, msg_days = per_day(conversations, "started_at"), per_day(messages, "created_at")
    return [{"date": day.isoformat(), "conversations": conv_days.get(day.isoformat(), 0),
             "messages": msg_days.get(day.isoformat(), 0)} for day in window.dates()]


def _hourly(messages: Any) -> list[int]:
    hours = [0] * 24
    rows = (messages.annotate(hour=ExtractHour("created_at", tzinfo=UTC)).values("hour")
            .annotate(n=Count("id")).order_by().values_list("hour", "n"))
    for hour, n in rows:
        hours[hour] = n
    return hours


def _response_times(messages: Any) -> dict[str, Any]:
    timed = messages.filter(role=Message.Role.ASSISTANT, response_time_ms__isnull=False)
    stats = timed.order_by().aggregate(n=Count("id"), mean=Avg("response_time_ms"))
    n = stats["n"]
    return {"count": n, "mean": rounded(stats["mean"]), "p50": rounded(percentile(timed, "response_time_ms", 0.5, n)),
            "p95": rounded(percentile(timed, "response_time_ms", 0.95, n))}


def _feedback(messages: Any) -> dict[str, Any]:
    counts = messages.order_by().aggregate(positive=Count("id", filter=Q(feedback=Message.Feedback.POSITIVE)),
                                           negative=Count("id", filter=Q(feedback=Message.Feedback.NEGATIVE)))
    rated = counts["positive"] + counts["negative"]
    return {**counts, "ratio": round(counts["positive"] / rated, 4) if rated else None}


def _knowledge_base(chatbot: Chatbot) -> dict[str, Any]:
    by_status = dict(Source.objects.filter(chatbot=chatbot).values("status").annotate(n=Count("id"))
                     .order_by().values_list("status", "n"))
    chunks = Chunk.objects.filter(chatbot=chatbot, is_active=True).aggregate(n=Count("id"), chars=Sum("char_count"))
    return {"sources": {status: by_status.get(status, 0) for status in Source.Status.values},
            "sources_total": sum(by_status.values()), "chunks": chunks["n"], "characters": chunks["chars"] or 0}


def build_analytics_report(chatbot: Chatbot, period_start: datetime, period_end: datetime) -> dict[str, Any]:
    """The figures of ``chatbot`` in [period_start, period_end), all aggregated in the database."""
    window = Window(period_start, period_end)
    conversations = Conversation.objects.filter(chatbot=chatbot, started_at__gte=period_start,
                                                started_at__lt=period_end)
    messages = Message.objects.filter(conversation__chatbot=chatbot, created_at__gte=period_start,
                                      created_at__lt=period_end)
    conversation_count = conversations.count()
    by_role = dict(messages.values("role").annotate(n=Count("id")).order_by().values_list("role", "n"))
    lengths = conversations.annotate(n=Count("messages"))
    mean_length = lengths.order_by().aggregate(mean=Avg("n"))["mean"] if conversation_count else None
    hourly = _hourly(messages)
    return {
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "conversations": conversation_count,
        "unique_visitors": conversations.order_by().values("visitor_id").distinct().count(),
        "messages": {"total": sum(by_role.values()), **{role: by_role.get(role, 0) for role in Message.Role.values}},
        "messages_per_conversation": {"mean": rounded(mean_length),
                                      "median": rounded(percentile(lengths, "n", 0.5, conversation_count))},
        "response_time_ms": _response_times(messages),
        "feedback": _feedback(messages),
        "daily": _daily_series(conversations, messages, window),
        "hourly": hourly,
        "busiest_hour": hourly.index(max(hourly)) if any(hourly) else None,
        "knowledge_base": _knowledge_base(chatbot),
    }


def _notify(report: AnalyticsReport, *, ok: bool) -> None:
    if report.requested_by_id is None:
        return
    name = report.chatbot.name
    enqueue_notification(
        user_id=report.requested_by_id,
        title=f"Report ready: {name}, {report.period}" if ok else f"Report failed: {name}, {report.period}",
        message=(f"Your {report.period} analytics report for {name} is ready." if ok
                 else f"Your {report.period} analytics report for {name} could not be made: {report.error_message}"),
        notification_type="success" if ok else "error",
        link_kind="report",
        link_id=str(report.pk),
        dedupe_key=f"report:{report.pk}",
    )


def fail_report(report: AnalyticsReport, code: str, message: str) -> AnalyticsReport:
    with transaction.atomic():
        updated = AnalyticsReport.objects.filter(pk=report.pk).exclude(status=AnalyticsReport.Status.COMPLETED).update(
            status=AnalyticsReport.Status.FAILED, error_code=str(code), error_message=message,
            finished_at=timezone.now())
        report.refresh_from_db()
        if updated:
            _notify(report, ok=False)
    return report


def generate_report(report: AnalyticsReport, *, task_id: str = "") -> AnalyticsReport:
    """Fill a pending report. A finished one is left as is; a redelivered one is redone from scratch."""
    claim: dict[str, Any] = {"status": AnalyticsReport.Status.PROCESSING, "started_at": timezone.now()}
    if task_id and not report.task_id:
        claim["task_id"] = task_id
    active = (AnalyticsReport.Status.PENDING, AnalyticsReport.Status.PROCESSING)
    if not AnalyticsReport.objects.filter(pk=report.pk, status__in=active).update(**claim):
        report.refresh_from_db()
        logger.info("report %s is already %s; nothing to do", report.pk, report.status)
        return report
    report.refresh_from_db()
    try:
        data = build_analytics_report(report.chatbot, report.period_start, report.period_end)
    except ProcessingError as exc:
        return fail_report(report, exc.code, exc.message)
    with transaction.atomic():
        AnalyticsReport.objects.filter(pk=report.pk).update(
            status=AnalyticsReport.Status.COMPLETED, data={"period": report.period, **data},
            error_code="", error_message="", finished_at=timezone.now())
        report.refresh_from_db()
        _notify(report, ok=True)
    return report


def load_chatbot(chatbot_id: object) -> Chatbot:
    if type(chatbot_id) is not int:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"chatbot_id must be an integer id, not {chatbot_id!r}.")
    chatbot = Chatbot.objects.filter(pk=chatbot_id).first()
    if chatbot is None:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"No chatbot with id {chatbot_id}.")
    return chatbot


def load_report(report_id: object) -> AnalyticsReport:
    report = (AnalyticsReport.objects.select_related("chatbot").filter(pk=report_id).first()
              if type(report_id) is int else None)
    if report is None:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"No report with id {report_id!r}.")
    return report
