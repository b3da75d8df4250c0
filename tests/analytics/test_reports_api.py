"""Reports API: request (202, queued after commit), bad period (400), owner-only (404), list, detail, CSV."""

from __future__ import annotations

import pytest

from analytics.models import AnalyticsReport
from analytics.periods import PERIOD_FORMS
from tests.analytics.factories_analytics import completed_report
from tests.factories import ChatbotFactory

pytestmark = pytest.mark.django_db


def test_request_creates_a_pending_report_and_queues_it_after_commit(api_client, chatbot, user,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(f"/api/chatbots/{chatbot.pk}/reports/", {"period": "7d"}, format="json")

    assert response.status_code == 202
    body = response.json()
    report = AnalyticsReport.objects.get(pk=body["report_id"])
    assert body["task_id"] == report.task_id and len(report.task_id) == 36
    assert (report.status, report.period, report.origin, report.requested_by) == ("pending", "7d", "api", user)
    assert report.period_end - report.period_start == __import__("datetime").timedelta(days=7)
    assert len(callbacks) == 1


@pytest.mark.parametrize("period", ["8w", "0d", "366d", "", "24", "abc"])
def test_bad_period_is_a_400_naming_the_accepted_forms(api_client, chatbot, period):
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/reports/", {"period": period}, format="json")

    assert response.status_code == 400
    assert PERIOD_FORMS in str(response.json()["period"])
    assert not AnalyticsReport.objects.exists()


def test_another_users_chatbot_and_report_are_404(other_client, chatbot):
    report = completed_report(chatbot, [{"date": "2025-03-01", "conversations": 1, "messages": 2}])

    assert other_client.post(f"/api/chatbots/{chatbot.pk}/reports/", {"period": "7d"}).status_code == 404
    assert other_client.get(f"/api/chatbots/{chatbot.pk}/reports/").status_code == 404
    assert other_client.get(f"/api/reports/{report.pk}/").status_code == 404
    assert other_client.get(f"/api/reports/{report.pk}/export.csv").status_code == 404
    assert AnalyticsReport.objects.count() == 1


def test_anonymous_is_refused(anon_client, chatbot):
    assert anon_client.get(f"/api/chatbots/{chatbot.pk}/reports/").status_code == 401


def test_list_is_paginated_newest_first_without_data_and_detail_has_data(api_client, chatbot):
    first = completed_report(chatbot, [])
    second = completed_report(chatbot, [{"date": "2025-03-01", "conversations": 1, "messages": 2}])
    completed_report(ChatbotFactory(owner=chatbot.owner), [])

    listing = api_client.get(f"/api/chatbots/{chatbot.pk}/reports/").json()

    assert listing["count"] == 2
    assert [r["id"] for r in listing["results"]] == [second.pk, first.pk]
    assert "data" not in listing["results"][0]
    detail = api_client.get(f"/api/reports/{second.pk}/").json()
    assert detail["status"] == "completed" and detail["data"]["daily"][0]["messages"] == 2


def test_csv_export_of_the_day_series_escapes_formulas(api_client, chatbot):
    report = completed_report(chatbot, [
        {"date": "2025-03-01", "conversations": 1, "messages": 2},
        {"date": "=cmd|' /C calc'!A0", "conversations": "+1", "messages": "@SUM(1)"},
    ])

    response = api_client.get(f"/api/reports/{report.pk}/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.decode().split("\r\n") == [
        "date,conversations,messages", "2025-03-01,1,2", "'=cmd|' /C calc'!A0,'+1,'@SUM(1)", ""]


def test_csv_export_of_an_unfinished_report_is_a_409(api_client, chatbot):
    report = completed_report(chatbot, [], status=AnalyticsReport.Status.PENDING)

    response = api_client.get(f"/api/reports/{report.pk}/export.csv")

    assert response.status_code == 409
    assert "not ready" in response.json()["detail"]
