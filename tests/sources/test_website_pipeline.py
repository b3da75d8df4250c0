"""A small real site served locally, crawled through the API by a real worker on Redis."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from sources.models import Chunk, Source
from tests.fixtures.http_server import BOILERPLATE_MARKERS, serve_test_site
from tests.sources.helpers_sources import wait_for_source

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site():
    with serve_test_site() as served:
        yield served


@pytest.fixture
def allow_private(settings):
    settings.SCRAPER_ALLOW_PRIVATE_NETWORKS = True


def _crawl(client, chatbot, url: str, **options) -> Source:
    response = client.post(f"/api/chatbots/{chatbot.pk}/sources/website/", {"url": url, **options}, format="json")
    assert response.status_code == 202, response.data
    entry = response.data["sources"][0]
    assert set(entry) == {"source_id", "task_id", "status", "name"}
    return wait_for_source(entry["source_id"], timeout=90)


def _text(source: Source) -> str:
    return "\n".join(Chunk.objects.filter(source=source, is_active=True).order_by("ordinal")
                     .values_list("text", flat=True))


@pytest.mark.integration
def test_crawl_keeps_main_content_and_drops_boilerplate(api_client, chatbot, site, allow_private, celery_worker):
    source = _crawl(api_client, chatbot, site.base_url + "/", max_pages=10, max_depth=3)

    assert source.status == "completed", (source.error_code, source.error_message)
    text = _text(source)
    assert "Acme builds sturdy widgets" in text and "founded in 1999" in text
    assert "Plan: Pro; Price: 25 EUR" in text
    assert "café crème" in text
    assert "Version 2 adds faster widgets" in text  # text/plain page
    assert "Acme widget manual" in text  # a linked PDF, read by the document extractor
    pdf_chunk = Chunk.objects.filter(source=source, text__contains="Acme widget manual").first()
    assert pdf_chunk.metadata["url"].endswith("/doc.pdf") and pdf_chunk.metadata["page"] == 1
    for marker in BOILERPLATE_MARKERS:
        assert marker not in text
    assert "/private/secret" not in site.requests_seen
    report = source.crawl_report
    assert any(f["url"].endswith("/missing") and f["status_code"] == 404 for f in report["failed"])
    assert any(s["url"].endswith("/private/secret") and s["reason"] == "robots.txt" for s in report["skipped"])
    chunk = Chunk.objects.filter(source=source, text__contains="founded in 1999").first()
    assert chunk.metadata["url"].endswith("/about") and chunk.metadata["title"] == "About Acme"
    assert source.units_done >= 3 and source.unit_name == "pages"


@pytest.mark.integration
def test_recrawl_leaves_one_set_of_chunks_and_counts_unchanged(api_client, chatbot, site, allow_private,
                                                             celery_worker):
    source = _crawl(api_client, chatbot, site.base_url + "/", max_pages=10, max_depth=3)
    first = sorted(Chunk.objects.filter(source=source).values_list("text", flat=True))

    assert api_client.post(f"/api/sources/{source.pk}/reprocess/").status_code == 202
    source = wait_for_source(source.pk, timeout=90)

    assert source.status == "completed"
    assert sorted(Chunk.objects.filter(source=source).values_list("text", flat=True)) == first
    assert not Chunk.objects.filter(source=source, is_active=False).exists()
    assert source.crawl_report["unchanged"] >= 3 and source.crawl_report["new"] == 0


@pytest.mark.integration
def test_single_page_by_default(api_client, chatbot, site, allow_private, celery_worker):
    source = _crawl(api_client, chatbot, site.base_url + "/about")

    assert source.status == "completed"
    assert "founded in 1999" in _text(source)
    assert "Welcome to Acme" not in _text(source)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/", "http://169.254.169.254/latest/meta-data/", "http://localhost/",
    "http://[::1]/", "http://0x7f000001/", "http://2130706433/", "http://10.0.0.1/", "http://100.64.0.1/",
])
def test_private_addresses_refused_at_once_with_400(api_client, chatbot, url):
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/sources/website/", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.data["error_code"] == "blocked_url"
    assert not Source.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "not a url",
                                 "http://user:pass@example.com/"])
def test_bad_urls_refused_with_400(api_client, chatbot, url):
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/sources/website/", {"url": url}, format="json")
    assert response.status_code == 400
    assert not Source.objects.exists()


def test_refresh_schedule_is_a_periodic_task_removed_with_the_source(api_client, chatbot, site, allow_private):
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/sources/website/",
                               {"url": site.base_url + "/", "refresh": "weekly"}, format="json")
    source = Source.objects.get(pk=response.data["sources"][0]["source_id"])

    task = PeriodicTask.objects.get(name=f"refresh-source-{source.pk}")
    assert task.task == "sources.tasks.refresh_website" and task.crontab.day_of_week == "1"
    assert source.periodic_task_id == task.pk

    assert api_client.delete(f"/api/sources/{source.pk}/").status_code == 204
    assert not PeriodicTask.objects.filter(name=f"refresh-source-{source.pk}").exists()


def test_refresh_task_queues_a_recrawl_only_when_idle(chatbot):
    from sources.services.websites import refresh_website

    source = Source.objects.create(chatbot=chatbot, kind="website", name="x", url="http://example.com/",
                                   status="completed", task_id="old")
    assert refresh_website(source.pk)["status"] == "queued"
    source.refresh_from_db()
    assert source.status == "pending" and source.task_id != "old"
    assert refresh_website(source.pk)["skipped"] == "already running"


@pytest.mark.integration
def test_recrawl_removes_gone_pages_and_counts_changed_ones(api_client, chatbot, site, allow_private, celery_worker):
    from tests.fixtures.http_server import Response

    source = _crawl(api_client, chatbot, site.base_url + "/", max_pages=10, max_depth=3)
    assert "Acme widget manual" in _text(source)

    site.routes["/doc.pdf"] = Response(status=404, body=b"gone")
    site.routes["/plain.txt"] = Response(body=b"Release notes\n\nVersion 3 is here.\n",
                                         content_type="text/plain; charset=utf-8")
    api_client.post(f"/api/sources/{source.pk}/reprocess/")
    source = wait_for_source(source.pk, timeout=90)

    text = _text(source)
    assert source.status == "completed"
    assert "Acme widget manual" not in text and "Version 3 is here" in text and "Version 2" not in text
    assert "founded in 1999" in text  # unchanged pages keep their chunks
    report = source.crawl_report
    assert report["removed"] == 1 and report["removed_urls"][0].endswith("/doc.pdf")
    assert report["changed"] == 1 and report["unchanged"] >= 3 and report["new"] == 0
    assert not Chunk.objects.filter(source=source, is_active=False).exists()
