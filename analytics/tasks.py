"""Celery tasks of the analytics app: retention cleanup and usage reports (queue ``default``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import OperationalError

from analytics.models import AnalyticsReport
from analytics.services import dispatch
from analytics.services.cleanup import run_cleanup
from analytics.services.reports import fail_report, generate_report, load_chatbot, load_report
from botsmith.errors import ErrorCode, ProcessingError

logger = logging.getLogger(__name__)

# Only a locked or dropped database connection is worth retrying: every step is idempotent,
# so a retry redoes what is left. ProcessingError (bad input) never is.
RETRY_OPTIONS: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "dont_autoretry_for": (ProcessingError,),
    "retry_backoff": 5,
    "retry_backoff_max": 60,
    "max_retries": 3,
}


@shared_task(bind=True, name="analytics.tasks.cleanup_old_data", acks_late=True, reject_on_worker_lost=True,
             **RETRY_OPTIONS)
def cleanup_old_data(self: Task, days: Any = 90, dry_run: Any = False) -> dict[str, Any]:
    """Delete data older than ``days`` (chatbot overrides win); counts per kind. Bad ``days`` fails, unretried."""
    run, counts = run_cleanup(days, dry_run, task_id=self.request.id or "")
    return {**counts.totals(), "per_chatbot": counts.per_chatbot, "days": days, "dry_run": dry_run,
            "cleanup_run_id": run.pk}


class ReportTask(Task):
    """Marks the report failed when the task gives up for a reason the service could not record."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        report_id = (kwargs or {}).get("report_id")
        if report_id is not None and not isinstance(exc, ProcessingError):
            try:
                fail_report(load_report(report_id), ErrorCode.INTERNAL, "The report could not be made; try again.")
            except Exception:
                logger.exception("report %s: could not record the failure", report_id)
        super().on_failure(exc, task_id, args, kwargs, einfo)


@shared_task(bind=True, base=ReportTask, name="analytics.tasks.generate_analytics_report", acks_late=True,
             reject_on_worker_lost=True, **RETRY_OPTIONS)
def generate_analytics_report(self: Task, chatbot_id: Any = None, period: Any = "30d",
                              report_id: Any = None) -> dict[str, Any]:
    """Make a report: fill ``report_id`` (API, schedule) or create one for ``chatbot_id`` and ``period``."""
    task_id = self.request.id or ""
    if report_id is not None:
        report = load_report(report_id)
    else:
        report = dispatch.create_report(load_chatbot(chatbot_id), period, origin=AnalyticsReport.Origin.TASK,
                                        task_id=task_id)
    report = generate_report(report, task_id=task_id)
    if report.status == AnalyticsReport.Status.FAILED:
        raise ProcessingError(report.error_code or ErrorCode.INTERNAL, report.error_message)
    return {"report_id": report.pk, "chatbot_id": report.chatbot_id, "period": report.period,
            "status": report.status, "data": report.data}


@shared_task(bind=True, name="analytics.tasks.generate_daily_reports", acks_late=True, reject_on_worker_lost=True,
             **RETRY_OPTIONS)
def generate_daily_reports(self: Task) -> dict[str, Any]:
    """Periodic (``analytics-daily``): queue a 24h report per chatbot active in the last day, once a day."""
    reports = dispatch.schedule_daily_reports()
    return {"reports_created": len(reports), "report_ids": [r.pk for r in reports]}
