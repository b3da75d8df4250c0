"""Hostile URLs: private targets refused before any request, bombs and slow servers cut off by the worker."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterator

import pytest
from django.core.files.base import ContentFile

from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Chunk, Source
from sources.scraping import DEFAULT_USER_AGENT, SafeFetcher
from sources.scraping.urlsafety import is_public_address
from sources.services import dispatch
from tests.fixtures.http_server import BOMB_EXPANDED_BYTES, SLOW_MAX_SECONDS, TestSite, serve_test_site
from tests.reliability.test_hostile_documents import MB, RssSampler
from tests.sources.helpers_sources import wait_for_source
from tests.worker import isolated_app

pytestmark = pytest.mark.reliability


def with_worker(test):
    """Integration: a real worker in another process reads what the test committed."""
    return pytest.mark.integration(pytest.mark.django_db(transaction=True)(test))


@pytest.fixture
def site() -> Iterator[TestSite]:
    with serve_test_site() as served:
        yield served


def _post_website(client, chatbot, url: str, **options):
    return client.post(f"/api/chatbots/{chatbot.pk}/sources/website/", {"url": url, **options}, format="json")


def _website_source(chatbot, url: str, **crawl_options) -> Source:
    """A committed pending website source created directly, bypassing the API's URL check."""
    source = Source(chatbot=chatbot, kind=Source.Kind.WEBSITE, name=url, url=url, content_type="text/html",
                    crawl_options={"max_pages": 1, "max_depth": 0, **crawl_options})
    dispatch.prepare_run(source)
    source.save()
    return source


def _file_source(chatbot, data: bytes, name: str = "next.txt") -> Source:
    source = Source(chatbot=chatbot, kind=Source.Kind.FILE, name=name, original_filename=name, file_kind="txt",
                    content_type="text/plain", size_bytes=len(data))
    dispatch.prepare_run(source)
    source.file.save(name, ContentFile(data), save=False)
    source.save()
    return source


def _assert_failed_without_chunks(source: Source, code: str) -> None:
    assert (source.status, source.error_code) == ("failed", code), (source.error_code, source.error_message)
    assert source.chunk_count == 0
    assert not Chunk.objects.filter(source=source).exists()


# --- refused by the API: nothing is created, nothing is requested ------------------------------------

HOSTILE_URLS = [
    ("loopback-test-site", "http://127.0.0.1:{port}/"),
    ("cloud-metadata", "http://169.254.169.254/latest/meta-data/"),
    ("localhost-name", "http://localhost:{port}/"),
    ("hex-ip", "http://0x7f000001:{port}/"),
    ("decimal-ip", "http://2130706433:{port}/"),
    ("short-ip", "http://127.1:{port}/"),
    ("ipv4-mapped-ipv6", "http://[::ffff:127.0.0.1]:{port}/"),
    ("ipv6-loopback", "http://[::1]:{port}/"),
    ("cgnat", "http://100.64.0.1/"),
    ("link-local-ipv6", "http://[fe80::1]/"),
    ("private-10", "http://10.0.0.1/"),
    ("credentials", "http://user:pass@127.0.0.1:{port}/"),
    ("credentials-public-host", "http://user:pass@example.com/"),
    ("file-scheme", "file:///etc/passwd"),
    ("gopher-scheme", "gopher://127.0.0.1:{port}/_GET"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "template"), HOSTILE_URLS, ids=[u[0] for u in HOSTILE_URLS])
def test_private_and_malformed_urls_are_refused_with_400_before_any_request(api_client, chatbot, site, settings,
                                                                           label, template):
    settings.SCRAPER_ALLOW_PRIVATE_NETWORKS = False
    url = template.format(port=site.port)

    response = _post_website(api_client, chatbot, url, max_pages=5)

    assert response.status_code == 400, response.data
    assert response.data["error_code"] in ("blocked_url", "invalid_argument")
    if label not in ("credentials-public-host",):
        assert response.data["error_code"] == "blocked_url", response.data
    assert not Source.objects.exists()
    assert site.requests_seen == []


def test_redirect_from_a_public_site_into_loopback_is_refused_before_the_request():
    """Public to private needs a public server, so it is proven at fetcher level (the worker uses the
    same fetcher); the loopback test site is declared "public" and redirects to 127.0.0.2."""
    with serve_test_site() as site:
        def policy(ip) -> bool:
            return ip == ipaddress.ip_address("127.0.0.1") or is_public_address(ip)

        with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=policy) as fetcher, \
                pytest.raises(ProcessingError) as caught:
            fetcher.fetch(site.url("/redirect-to-loopback"))
        assert caught.value.code == ErrorCode.BLOCKED_URL
        assert site.requests_seen == ["/redirect-to-loopback"]


# --- through the worker ------------------------------------------------------------------------------


@with_worker
def test_gzip_bomb_page_fails_with_bounded_memory(api_client, chatbot, site, settings, celery_worker):
    settings.SCRAPER_ALLOW_PRIVATE_NETWORKS = True  # like the session worker, so the API accepts the local site
    with RssSampler(celery_worker) as sampler:  # baseline taken before the page is fetched
        response = _post_website(api_client, chatbot, site.url("/gzip-bomb"))
        assert response.status_code == 202, response.data
        started = time.monotonic()
        source = wait_for_source(response.data["sources"][0]["source_id"], timeout=90)
        elapsed = time.monotonic() - started

    print(f"\n[hostile] gzip bomb page: {source.status}/{source.error_code} in {elapsed:.1f}s, "
          f"peak tree RSS {sampler.peak.tree_mb:.0f} MB (largest {sampler.peak.single_bytes / MB:.0f} MB, "
          f"grew at most {sampler.peak.growth_bytes / MB:.0f} MB)")
    assert source.error_code in ("too_large", "fetch_failed")
    _assert_failed_without_chunks(source, source.error_code)
    # A failed run keeps no crawl report; the message names the page's own failure.
    assert "larger than the 10 MB limit" in source.error_message, source.error_message
    assert sampler.peak.main_alive
    # The body is cut off at SCRAPER_MAX_BYTES (10 MB) once decoded: far below the 120 MB bomb. Compared as
    # growth, since a pool process's baseline (every library it imported) is itself near 120 MB.
    assert sampler.peak.growth_bytes < BOMB_EXPANDED_BYTES * 3 // 4
    assert sampler.peak.tree_bytes < (settings.EXTRACTION_MEMORY_LIMIT_MB + 300) * MB

    nxt = _post_website(api_client, chatbot, site.url("/about"))
    source = wait_for_source(nxt.data["sources"][0]["source_id"], timeout=60)
    assert source.status == "completed", source.error_message
    assert "founded in 1999" in Chunk.objects.filter(source=source).first().text


@pytest.fixture
def own_worker(start_worker):
    """Start a worker on a private broker prefix with extra settings; returns (worker, app)."""
    started = []

    def start(**env: str):
        prefix = f"hostile-{uuid.uuid4().hex[:8]}:"
        app = isolated_app(prefix)
        worker = start_worker(env={"CELERY_BROKER_KEY_PREFIX": prefix, **env}, wait=False)
        started.append((worker, app))
        worker.wait_ready(app)
        return worker, app

    yield start
    for worker, app in started:
        worker.stop()
        app.close()


def _send(app, source: Source) -> None:
    app.send_task(dispatch.task_name_for(source), kwargs={"source_id": source.pk}, task_id=source.task_id)


@with_worker
def test_slow_loris_page_is_aborted_at_the_page_time_budget(chatbot, site, own_worker):
    budget = 3
    assert budget + 2 < SLOW_MAX_SECONDS  # the server would drip for longer than the budget
    worker, app = own_worker(SCRAPER_PAGE_TIMEOUT_SECONDS=str(budget), SCRAPER_ALLOW_PRIVATE_NETWORKS="true")
    source = _website_source(chatbot, site.url("/slow"))

    started = time.monotonic()
    _send(app, source)
    source = wait_for_source(source.pk, timeout=60)
    elapsed = time.monotonic() - started

    print(f"\n[hostile] slow-loris page: {source.status}/{source.error_code} in {elapsed:.1f}s: "
          f"{source.error_message}")
    _assert_failed_without_chunks(source, "timeout")
    assert f"took longer than {budget} seconds to download" in source.error_message, source.error_message
    assert "/slow" in site.requests_seen
    assert elapsed < SLOW_MAX_SECONDS  # cut off by the budget, not by the server giving up

    quick = _website_source(chatbot, site.url("/about"))
    _send(app, quick)
    assert wait_for_source(quick.pk, timeout=60).status == "completed"
    assert worker.proc is not None and worker.proc.poll() is None


@with_worker
def test_worker_refuses_a_private_url_that_bypassed_the_api(chatbot, site, own_worker):
    worker, app = own_worker(SCRAPER_ALLOW_PRIVATE_NETWORKS="false")
    source = _website_source(chatbot, site.url("/"), max_pages=5, max_depth=2)

    _send(app, source)
    source = wait_for_source(source.pk, timeout=60)

    print(f"\n[hostile] private URL in the worker: {source.status}/{source.error_code}")
    _assert_failed_without_chunks(source, "blocked_url")
    assert "private or internal network" in source.error_message
    assert site.requests_seen == []  # not even robots.txt

    nxt = _file_source(chatbot, b"The worker still processes documents.")
    _send(app, nxt)
    assert wait_for_source(nxt.pk, timeout=60).status == "completed"
    assert worker.proc is not None and worker.proc.poll() is None
