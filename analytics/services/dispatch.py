"""Create report rows and queue their generation once the row is committed.

Tasks are sent by name (as ``sources.services.dispatch`` does): no service imports
``analytics.tasks``, so the daily task can use this module without an import cycle.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.models import AnalyticsReport
from analytics.periods import window_ending
from analytics.services.reports import fail_report
from botsmith.celery import app
from botsmith.errors import ErrorCode
from botsmith.models import Chatbot, Conversation

logger = logging.getLogger(__name__)

GENERATE_REPORT = "analytics.tasks.generate_analytics_report"
DAILY_PERIOD = "24h"


def create_report(chatbot: Chatbot, period: str, *, origin: str, requested_by: Any = None, task_id: str = "",
                  now: datetime | None = None) -> AnalyticsReport:
    """A pending report row for the window ending now; ProcessingError for a bad period."""
    window = window_ending(period, now or timezone.now())
    return AnalyticsReport.objects.create(
        chatbot=chatbot, period=period, period_start=window.start, period_end=window.end,
        period_end_date=window.end.date(), origin=origin, requested_by=requested_by, task_id=task_id,
    )


def publish(report: AnalyticsReport) -> None:
    """Send the generation task now (after commit). A broker outage fails the report instead of hiding it."""
    try:
        app.send_task(GENERATE_REPORT, kwargs={"report_id": report.pk}, task_id=report.task_id)
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.error("could not queue report %s (task %s): %s", report.pk, report.task_id, exc)
        fail_report(report, ErrorCode.INTERNAL, "The processing queue is unavailable; please request it again.")


def request_report(chatbot: Chatbot, period: str, user: Any) -> AnalyticsReport:
    """API path: create a pending report with its task id, send the task after commit."""
    with transaction.atomic():
        report = create_report(chatbot, period, origin=AnalyticsReport.Origin.API, requested_by=user,
                               task_id=str(uuid.uuid4()))
        transaction.on_commit(partial(publish, report))
    return report


def schedule_daily_reports(now: datetime | None = None) -> list[AnalyticsReport]:
    """One 24h report per chatbot active in the last 24 hours; a second call the same day adds none."""
    now = now or timezone.now()
    active_ids = (Conversation.objects.filter(last_activity_at__gte=now - timedelta(days=1))
                  .order_by("chatbot_id").values_list("chatbot_id", flat=True).distinct())
    window = window_ending(DAILY_PERIOD, now)
    created_reports = []
    for chatbot_id in list(active_ids):
        with transaction.atomic():
            report, created = AnalyticsReport.objects.get_or_create(
                chatbot_id=chatbot_id, period=DAILY_PERIOD, period_end_date=window.end.date(),
                origin=AnalyticsReport.Origin.SCHEDULED,
                defaults={"period_start": window.start, "period_end": window.end, "task_id": str(uuid.uuid4())},
            )
            if created:
                transaction.on_commit(partial(publish, report))
                created_reports.append(report)
    return created_reports


def requeue_report(report: AnalyticsReport) -> bool:
    """Admin action: make a finished (or lost) report again with a new task id. False while it runs."""
    with transaction.atomic():
        updated = AnalyticsReport.objects.filter(pk=report.pk).exclude(
            status=AnalyticsReport.Status.PROCESSING).update(
            status=AnalyticsReport.Status.PENDING, task_id=str(uuid.uuid4()), data={}, error_code="",
            error_message="", started_at=None, finished_at=None)
        if updated:
            report.refresh_from_db()
            transaction.on_commit(partial(publish, report))
    return bool(updated)
