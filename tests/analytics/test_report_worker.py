"""Reports through a real worker: the original call, bad arguments, the API round trip with its notification,
and the daily schedule's task."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult
from rest_framework.test import APIClient

from analytics.models import AnalyticsReport
from analytics.tasks import generate_analytics_report, generate_daily_reports
from notifications.models import Notification
from tests.analytics.factories_analytics import conversation_aged, wait_for
from tests.factories import ChatbotFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_original_call_makes_a_completed_report(celery_worker):
    chatbot = ChatbotFactory()
    conversation_aged(chatbot, 2, messages=4)
    conversation_aged(chatbot, 9, messages=2)  # outside 7 days

    result = generate_analytics_report.delay(chatbot.id, period="7d")
    payload = result.get(timeout=20)

    report = AnalyticsReport.objects.get(pk=payload["report_id"])
    assert (report.status, report.period, report.origin, report.task_id) == ("completed", "7d", "task", result.id)
    assert report.data["conversations"] == 1 and report.data["messages"]["total"] == 4
    assert len(report.data["daily"]) in (7, 8)
    assert payload["data"] == report.data
    assert TaskResult.objects.get(task_id=result.id).status == "SUCCESS"


@pytest.mark.parametrize(("args", "kwargs", "text"), [
    ((999999,), {"period": "7d"}, "No chatbot with id 999999"),
    (("abc",), {}, "chatbot_id must be an integer"),
    ((None,), {"period": "7d"}, "chatbot_id must be an integer"),
    ((), {"report_id": 999999}, "No report with id 999999"),
])
def test_bad_chatbot_or_report_fails_without_retry(celery_worker, args, kwargs, text):
    result = generate_analytics_report.delay(*args, **kwargs)
    result.get(timeout=20, propagate=False)

    assert result.state == "FAILURE" and text in str(result.result)
    assert TaskResult.objects.get(task_id=result.id).status == "FAILURE"
    assert not AnalyticsReport.objects.exists()
    assert f"[{result.id}] retry" not in celery_worker.log_path.read_text(errors="replace")


def test_bad_period_fails_and_creates_no_report(celery_worker):
    chatbot = ChatbotFactory()
    result = generate_analytics_report.delay(chatbot.id, period="8w")
    result.get(timeout=20, propagate=False)

    assert result.state == "FAILURE" and "24h, 7d, 30d, 90d or Nd" in str(result.result)
    assert not AnalyticsReport.objects.exists()


def test_api_request_is_made_by_the_worker_and_the_requester_is_notified(celery_worker):
    user = UserFactory()
    chatbot = ChatbotFactory(owner=user)
    conversation_aged(chatbot, 1, messages=2)
    client = APIClient()
    client.force_authenticate(user)

    body = client.post(f"/api/chatbots/{chatbot.pk}/reports/", {"period": "30d"}, format="json").json()

    report = wait_for(lambda: AnalyticsReport.objects.filter(pk=body["report_id"], status="completed").first())
    assert report.task_id == body["task_id"] and report.data["messages"]["total"] == 2
    assert TaskResult.objects.get(task_id=body["task_id"]).status == "SUCCESS"
    notification = wait_for(lambda: Notification.objects.filter(user=user).first())
    assert (notification.link_kind, notification.link_id, notification.dedupe_key) == (
        "report", str(report.pk), f"report:{report.pk}")
    assert "ready" in notification.title.lower()
    csv_text = client.get(f"/api/reports/{report.pk}/export.csv").content.decode()
    assert csv_text.startswith("date,conversations,messages\r\n") and csv_text.count("\r\n") == 1 + len(
        report.data["daily"])


def test_daily_reports_run_once_per_active_chatbot(celery_worker):
    active, idle = ChatbotFactory(), ChatbotFactory()
    conversation_aged(active, 0.2, messages=3)
    conversation_aged(idle, 3)

    first = generate_daily_reports.delay().get(timeout=20)
    second = generate_daily_reports.delay().get(timeout=20)

    assert first["reports_created"] == 1 and second["reports_created"] == 0
    report = wait_for(lambda: AnalyticsReport.objects.filter(status="completed").first())
    assert (report.chatbot, report.period, report.origin, report.requested_by) == (active, "24h", "scheduled", None)
    assert report.data["messages"]["total"] == 3
    assert AnalyticsReport.objects.count() == 1
