"""Scheduled daily reports (one per chatbot and day) and generate_report's claim, notify and failure paths."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from analytics.models import AnalyticsReport
from analytics.services import reports as report_services
from analytics.services.dispatch import create_report, schedule_daily_reports
from analytics.services.reports import generate_report
from tests.analytics.factories_analytics import conversation_aged
from tests.factories import ChatbotFactory

pytestmark = pytest.mark.django_db


def test_analytics_daily_is_seeded_at_three_utc_and_enabled():
    task = PeriodicTask.objects.get(name="analytics-daily")
    assert task.task == "analytics.tasks.generate_daily_reports"
    assert task.enabled and json.loads(task.kwargs) == {}
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("0", "3", "UTC")


def test_one_24h_report_per_active_chatbot_and_none_twice_a_day(django_capture_on_commit_callbacks):
    active, quiet = ChatbotFactory(), ChatbotFactory()
    conversation_aged(active, 0.5)
    conversation_aged(quiet, 2)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = schedule_daily_reports()
        second = schedule_daily_reports(now=timezone.now() + timedelta(minutes=1))

    assert [r.chatbot for r in first] == [active] and second == []
    report = AnalyticsReport.objects.get()
    assert (report.chatbot, report.period, report.origin, report.status) == (active, "24h", "scheduled", "pending")
    assert report.requested_by is None and report.task_id
    assert len(callbacks) == 1


def test_the_database_refuses_a_second_scheduled_report_for_the_same_day():
    chatbot = ChatbotFactory()
    create_report(chatbot, "24h", origin=AnalyticsReport.Origin.SCHEDULED)
    with pytest.raises(IntegrityError), transaction.atomic():
        create_report(chatbot, "24h", origin=AnalyticsReport.Origin.SCHEDULED)
    create_report(chatbot, "24h", origin=AnalyticsReport.Origin.TASK)  # on-demand reports are not limited
    assert AnalyticsReport.objects.count() == 2


def test_generate_report_completes_notifies_the_requester_and_is_a_no_op_the_second_time(user):
    chatbot = ChatbotFactory(owner=user)
    conversation_aged(chatbot, 1, messages=3)
    report = create_report(chatbot, "7d", origin=AnalyticsReport.Origin.API, requested_by=user)

    with mock.patch.object(report_services, "enqueue_notification") as notify:
        generate_report(report)
        generate_report(report)

    report.refresh_from_db()
    assert report.status == "completed" and report.finished_at and report.started_at
    assert report.data["conversations"] == 1 and report.data["messages"]["total"] == 3
    assert report.data["period"] == "7d"
    notify.assert_called_once()
    kwargs = notify.call_args.kwargs
    assert (kwargs["user_id"], kwargs["link_kind"], kwargs["link_id"], kwargs["dedupe_key"]) == (
        user.pk, "report", str(report.pk), f"report:{report.pk}")


def test_scheduled_report_notifies_nobody():
    report = create_report(ChatbotFactory(), "24h", origin=AnalyticsReport.Origin.SCHEDULED)
    with mock.patch.object(report_services, "enqueue_notification") as notify:
        generate_report(report)
    assert AnalyticsReport.objects.get().status == "completed"
    notify.assert_not_called()
