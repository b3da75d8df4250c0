"""The source admin: a status page with chunk preview, crawl report and search; actions through the API's services."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from analytics.models import AnalyticsReport
from retrieval.embeddings import reset_backend
from sources.models import Chunk, Source
from sources.services import dispatch
from tests.analytics.factories_analytics import completed_report
from tests.factories import ChatbotFactory, UserFactory
from tests.retrieval.helpers_retrieval import make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """Reprocess goes through ``dispatch.start_reprocess`` and the fair-queue admission; only the broker
    hand-off itself is recorded instead of sent."""
    sent: list[int] = []
    monkeypatch.setattr(dispatch, "_send", lambda source: sent.append(source.pk))
    return sent


@pytest.fixture
def keyword_only():
    with override_settings(EMBEDDINGS_BACKEND="none"):
        reset_backend()
        yield
    reset_backend()


def _page(admin_client, source: Source, **params) -> str:
    response = admin_client.get(reverse("admin:sources_source_change", args=[source.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def _failed_website(chatbot) -> Source:
    return Source.objects.create(
        chatbot=chatbot, kind=Source.Kind.WEBSITE, name="https://docs.example/", url="https://docs.example/",
        status=Source.Status.FAILED, error_code="fetch_failed", error_message="No page of this website could be read",
        crawl_report={"pages_found": 3, "pages_crawled": 0, "pages_failed": 2, "complete": True,
                      "failed": [{"url": "https://docs.example/a", "status_code": 404, "error": "page not found"},
                                 {"url": "https://docs.example/b", "status_code": None, "error": "timed out",
                                  "code": "timeout"}],
                      "skipped": [{"url": "https://docs.example/c", "reason": "robots", "detail": ""}]},
    )


def test_completed_source_page_shows_status_block_and_paginated_chunks(admin_client):
    chatbot = ChatbotFactory(name="Support bot")
    texts = [f"Chunk number {i}\nsecond line\nthird line\nfourth line hidden" for i in range(25)]
    source = make_source(chatbot, texts, name="manual.pdf",
                         metadata=[{"page": i + 1, "heading_path": ["Guide", "Setup"]} for i in range(25)])

    html = _page(admin_client, source)

    status = html[html.index('id="source-status"'):html.index("</table>", html.index('id="source-status"'))]
    assert "manual.pdf" in status and "Support bot" in status and "Completed" in status
    assert reverse("admin:botsmith_chatbot_change", args=[chatbot.pk]) in status
    assert 'id="reprocess-button"' in html and 'id="cancel-button"' not in html
    preview = html[html.index('id="chunk-preview"'):html.index("</table>", html.index('id="chunk-preview"'))]
    assert re.findall(r"Chunk number (\d+)", preview) == [str(i) for i in range(20)]
    assert "page 1; Guide › Setup" in preview and "fourth line hidden" not in preview
    assert "page 1 of 2" in html
    second = _page(admin_client, source, chunks=2)
    assert re.findall(r"Chunk number (\d+)", second.split('id="chunk-preview"')[1].split("</table>")[0]) == [
        str(i) for i in range(20, 25)]


def test_failed_website_page_shows_error_and_crawl_report(admin_client):
    source = _failed_website(ChatbotFactory())

    html = _page(admin_client, source)

    assert "fetch_failed" in html and "No page of this website could be read" in html
    failed = html.split('id="crawl-failed"')[1].split("</table>")[0]
    assert "https://docs.example/a" in failed and "page not found" in failed and "404" in failed
    assert "timed out" in failed and "timeout" in failed
    assert "https://docs.example/c" in html.split('id="crawl-skipped"')[1]
    assert 'id="chunk-preview-empty"' in html


def test_search_box_searches_only_this_source(admin_client, keyword_only):
    chatbot = ChatbotFactory()
    source = make_source(chatbot, ["Refunds are paid within 14 days.", "Shipping takes a week."], name="a.txt")
    make_source(chatbot, ["Refunds for gift cards are not possible."], name="b.txt")

    html = _page(admin_client, source, search="refunds")

    results = html.split('id="search-results"')[1].split("</table>")[0]
    assert "Refunds are paid within 14 days." in results
    assert "gift cards" not in results and "Shipping" not in results


def test_pipeline_fields_are_read_only_and_internals_collapsed(admin_client):
    source = make_source(ChatbotFactory(), ["text"], name="a.txt")
    url = reverse("admin:sources_source_change", args=[source.pk])

    html = _page(admin_client, source)
    assert 'name="status"' not in html and 'name="run_id"' not in html and 'name="chatbot"' not in html
    assert re.search(r'<fieldset class="[^"]*collapse[^"]*"', html) or "<details" in html
    response = admin_client.post(url, {"name": "renamed.txt", "chunk_size": 500, "chunk_overlap": 50,
                                       "crawl_options": "{}", "render": "auto", "status": "failed", "chunk_count": 99})

    assert response.status_code == 302, response.content.decode()[:2000]
    source.refresh_from_db()
    assert (source.name, source.chunk_size, source.status, source.chunk_count) == ("renamed.txt", 500,
                                                                                    "completed", 1)


def test_reprocess_button_queues_the_failed_source(admin_client, published):
    source = _failed_website(ChatbotFactory())

    response = admin_client.post(reverse("admin:sources_source_reprocess", args=[source.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:sources_source_change", args=[source.pk])
    assert "queued for reprocessing" in response.content.decode()
    source.refresh_from_db()
    assert (source.status, source.error_code, bool(source.task_id)) == ("pending", "", True)
    assert published == [source.pk]


def test_reprocess_of_an_active_source_is_refused_with_the_api_message(admin_client, published):
    source = make_source(ChatbotFactory(), ["text"])
    Source.objects.filter(pk=source.pk).update(status=Source.Status.PROCESSING)

    response = admin_client.post(reverse("admin:sources_source_reprocess", args=[source.pk]), follow=True)

    assert "already queued or processing" in response.content.decode()
    assert Source.objects.get(pk=source.pk).status == "processing" and published == []


def test_reprocess_and_cancel_only_accept_post(admin_client):
    source = make_source(ChatbotFactory(), ["text"])
    for name in ("reprocess", "cancel"):
        assert admin_client.get(reverse(f"admin:sources_source_{name}", args=[source.pk])).status_code == 405


def test_cancel_button_cancels_a_pending_source(admin_client):
    source = Source.objects.create(chatbot=ChatbotFactory(), kind=Source.Kind.FILE, name="queued.pdf")

    html = _page(admin_client, source)
    assert 'id="cancel-button"' in html and 'id="reprocess-button"' not in html
    admin_client.post(reverse("admin:sources_source_cancel", args=[source.pk]))

    assert Source.objects.get(pk=source.pk).status == "cancelled"


def test_staff_without_change_permission_cannot_reprocess(client, published):
    client.force_login(UserFactory(is_staff=True))
    source = _failed_website(ChatbotFactory())

    response = client.post(reverse("admin:sources_source_reprocess", args=[source.pk]))

    assert response.status_code == 403
    assert Source.objects.get(pk=source.pk).status == "failed" and published == []


def test_list_actions_reprocess_cancel_and_delete_use_the_services(admin_client, published):
    chatbot = ChatbotFactory()
    failed = _failed_website(chatbot)
    pending = Source.objects.create(chatbot=chatbot, kind=Source.Kind.FILE, name="queued.pdf")
    done = make_source(chatbot, ["a", "b"], name="done.txt")
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    done.periodic_task = PeriodicTask.objects.create(name="refresh done", task="x", interval=schedule)
    done.save()
    url = reverse("admin:sources_source_changelist")

    admin_client.post(url, {"action": "reprocess", "_selected_action": [failed.pk]})
    admin_client.post(url, {"action": "cancel", "_selected_action": [pending.pk, done.pk]})
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [done.pk], "post": "yes"})

    assert Source.objects.get(pk=failed.pk).status == "pending" and published == [failed.pk]
    assert Source.objects.get(pk=pending.pk).status == "cancelled"
    assert not Source.objects.filter(pk=done.pk).exists() and not Chunk.objects.filter(source_id=done.pk).exists()
    assert not PeriodicTask.objects.filter(name="refresh done").exists()


def test_list_links_the_chatbot_and_sorts_by_last_update(admin_client):
    chatbot = ChatbotFactory(name="Sales bot")
    older = make_source(chatbot, ["x"], name="older.txt")
    newer = make_source(chatbot, ["y"], name="newer.txt")
    older.save()  # touched last: first in the list

    html = admin_client.get(reverse("admin:sources_source_changelist")).content.decode()

    assert html.index("older.txt") < html.index("newer.txt")
    assert f'href="{reverse("admin:botsmith_chatbot_change", args=[chatbot.pk])}"' in html
    assert newer.pk


def test_chatbot_page_lists_sources_counts_and_latest_report(admin_client):
    chatbot = ChatbotFactory()
    make_source(chatbot, ["x"], name="one.txt")
    make_source(chatbot, ["y"], name="two.txt")
    _failed_website(chatbot)
    completed_report(chatbot, [], period="30d", data={"conversations": 12, "messages": {"total": 40},
                                                      "unique_visitors": 9})
    AnalyticsReport.objects.create(chatbot=chatbot, period="7d", period_start=chatbot.created_at,
                                   period_end=chatbot.created_at, period_end_date=chatbot.created_at.date(),
                                   status=AnalyticsReport.Status.FAILED)

    html = admin_client.get(reverse("admin:botsmith_chatbot_change", args=[chatbot.pk])).content.decode()

    assert "Completed: 2" in html and "Failed: 1" in html
    table = html.split('id="chatbot-sources"')[1].split("</table>")[0]
    assert "one.txt" in table and "two.txt" in table and "https://docs.example/" in table
    assert "30d report" in html and "12 conversations, 40 messages, 9 unique visitors" in html


def test_add_pages_still_render(admin_client):
    for name in ("admin:sources_source_add", "admin:botsmith_chatbot_add"):
        assert admin_client.get(reverse(name)).status_code == 200, name
