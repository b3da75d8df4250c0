"""Admin: a report's page shows its figures and an SVG day chart; cleanup runs are read-only with counts."""

from __future__ import annotations

import pytest

from analytics.models import AnalyticsReport, CleanupRun
from analytics.services.dispatch import create_report
from analytics.services.reports import generate_report
from tests.analytics.factories_analytics import conversation_aged
from tests.factories import ChatbotFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_report_page_shows_figures_and_an_svg_chart(admin_client):
    chatbot = ChatbotFactory(name="<b>Bot</b>")
    conversation_aged(chatbot, 1, messages=4)
    report = generate_report(create_report(chatbot, "7d", origin=AnalyticsReport.Origin.SCHEDULED))

    page = admin_client.get(f"/admin/analytics/analyticsreport/{report.pk}/change/").content.decode()

    assert "<svg" in page and page.count("<rect") == 2 * len(report.data["daily"])
    assert "Response time ms (mean / p50 / p95)" in page
    assert "<b>Bot</b>" not in page
    assert admin_client.get("/admin/analytics/analyticsreport/add/").status_code == 403


def test_cleanup_runs_list_counts_and_cannot_be_added(admin_client):
    CleanupRun.objects.create(days=30, conversations=12, messages=34, status="completed",
                              per_chatbot={"5": {"retention_days": 7, "conversations": 2, "messages": 4}})

    listing = admin_client.get("/admin/analytics/cleanuprun/").content.decode()
    detail = admin_client.get(f"/admin/analytics/cleanuprun/{CleanupRun.objects.get().pk}/change/").content.decode()

    assert "12" in listing and "34" in listing
    assert "retention (days)" in detail
    assert admin_client.get("/admin/analytics/cleanuprun/add/").status_code == 403


def test_make_again_action_requeues_a_failed_report(admin_client, django_capture_on_commit_callbacks):
    report = create_report(ChatbotFactory(), "7d", origin=AnalyticsReport.Origin.TASK)
    AnalyticsReport.objects.filter(pk=report.pk).update(status="failed", error_message="boom")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post("/admin/analytics/analyticsreport/",
                          {"action": "make_again", "_selected_action": [report.pk]})

    report.refresh_from_db()
    assert (report.status, report.error_message) == ("pending", "")
    assert len(callbacks) == 1
