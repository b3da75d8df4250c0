"""JavaScript sites crawled through the API by a real worker: rendered text, a guarded network, no orphans.

The sites are served on 127.0.0.2 and the worker runs with SCRAPER_ALLOW_PRIVATE_NETWORKS=false and
SCRAPER_ALLOWED_NETWORKS=127.0.0.2/32, so the page scripts' calls to a listener on 127.0.0.1 and to
169.254.169.254 meet the same guard as on a public site.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from sources.models import Chunk, Source
from sources.scraping.chromium import find_chromium
from sources.services import dispatch
from tests.fixtures.http_server import TestSite, serve_test_site
from tests.fixtures.spa_site import Listener, mixed_routes, serve_listener, spa_routes
from tests.sources.helpers_sources import wait_for_source
from tests.worker import WorkerProcess, isolated_app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GUARDED_ENV = {"SCRAPER_ALLOW_PRIVATE_NETWORKS": "false", "SCRAPER_ALLOWED_NETWORKS": "127.0.0.2/32",
               "SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS": "4"}


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    if find_chromium("chromium") is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def guarded_api(settings) -> None:
    """The API process checks URLs as the worker does."""
    settings.SCRAPER_ALLOW_PRIVATE_NETWORKS = False
    settings.SCRAPER_ALLOWED_NETWORKS = ["127.0.0.2/32"]


@pytest.fixture
def listener() -> Iterator[Listener]:
    with serve_listener() as running:
        yield running


@pytest.fixture
def spa(listener: Listener) -> Iterator[TestSite]:
    with serve_test_site(host="127.0.0.2") as site:
        site.routes = spa_routes(listener.url)
        yield site


@pytest.fixture
def mixed() -> Iterator[TestSite]:
    with serve_test_site(host="127.0.0.2") as site:
        site.routes = mixed_routes()
        yield site


@pytest.fixture
def render_worker(start_worker, monkeypatch) -> Iterator[Callable[..., WorkerProcess]]:
    """A worker on a private broker prefix with the given settings; the API publishes to it."""
    started: list[tuple[WorkerProcess, Any]] = []

    def start(**env: str) -> WorkerProcess:
        prefix = f"render-{uuid.uuid4().hex[:8]}:"
        app = isolated_app(prefix)
        worker = start_worker(env={"CELERY_BROKER_KEY_PREFIX": prefix, **GUARDED_ENV, **env}, wait=False)
        started.append((worker, app))
        worker.wait_ready(app)
        monkeypatch.setattr(dispatch, "app", app)
        return worker

    yield start
    for worker, app in started:
        worker.stop()
        app.close()


def _post(client, chatbot, url: str, **options) -> int:
    response = client.post(f"/api/chatbots/{chatbot.pk}/sources/website/", {"url": url, **options}, format="json")
    assert response.status_code == 202, response.data
    return int(response.data["sources"][0]["source_id"])


def _text(source: Source) -> str:
    return "\n".join(Chunk.objects.filter(source=source, is_active=True).order_by("ordinal")
                     .values_list("text", flat=True))


def _chromium_processes(worker: WorkerProcess) -> list[psutil.Process]:
    found = []
    for child in worker.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "chromium" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_single_page_app_is_rendered_and_its_scripts_never_reach_loopback_or_metadata(
        api_client, chatbot, spa, listener, guarded_api, render_worker):
    worker = render_worker()
    source = wait_for_source(_post(api_client, chatbot, spa.url("/"), max_pages=10, max_depth=3), timeout=120)

    assert source.status == "completed", (source.error_code, source.error_message)
    text = _text(source)
    for marker in ("SPA-HOME-TEXT", "SPA-INSTALL-TEXT", "SPA-USAGE-TEXT"):  # /docs/usage: linked only by the app
        assert marker in text
    assert source.render == "auto" and source.units_done == 3
    chunk = Chunk.objects.get(source=source, text__contains="SPA-INSTALL-TEXT")
    assert chunk.metadata["rendered"] is True and chunk.metadata["title"] == "Install Gizmo"
    assert chunk.metadata["heading_path"][0] == "Installing Gizmo"
    report = source.crawl_report
    assert report["pages_rendered"] == 3 and report["new"] == 3
    refused = {entry["target"] for entry in report["render_refused"]}
    assert f"{listener.url}/from-fetch" in refused and "http://169.254.169.254/latest/meta-data/" in refused
    assert f"127.0.0.1:{listener.port}" in refused  # the WebSocket's CONNECT
    assert f"{listener.url}/from-redirect" in refused  # redirected from the allowed site
    assert listener.connections == 0 and listener.hits == []
    assert _chromium_processes(worker) == []  # the crawl's browser is gone with the crawl


def test_auto_renders_only_the_pages_that_need_it(api_client, chatbot, mixed, guarded_api, render_worker):
    render_worker()
    source = wait_for_source(_post(api_client, chatbot, mixed.url("/"), max_pages=10, max_depth=2), timeout=120)

    assert source.status == "completed", (source.error_code, source.error_message)
    assert "MIXED-HOME-TEXT" in _text(source) and "MIXED-PLAIN-TEXT" in _text(source)
    assert "MIXED-APP-TEXT" in _text(source)
    by_url = {url.rsplit(":", 1)[1].split("/", 1)[1]: page for url, page in source.crawl_pages.items()}
    assert by_url[""]["rendered"] is False and by_url["plain"]["rendered"] is False
    assert by_url["app"]["rendered"] is True and source.crawl_report["pages_rendered"] == 1
    browser_paths = {r.path for r in mixed.requests if "rendering" in r.headers.get("user-agent", "")}
    assert "/app" in browser_paths and "/" not in browser_paths and "/plain" not in browser_paths
    plain = Chunk.objects.get(source=source, text__contains="MIXED-PLAIN-TEXT")
    assert "rendered" not in plain.metadata


def test_page_that_never_settles_ends_at_its_budget_and_a_busy_loop_fails_alone(
        api_client, chatbot, spa, guarded_api, render_worker):
    worker = render_worker()
    started = time.monotonic()
    ticker = wait_for_source(_post(api_client, chatbot, spa.url("/never-settles"), render="always"), timeout=90)
    ticker_seconds = time.monotonic() - started
    busy = wait_for_source(_post(api_client, chatbot, spa.url("/busy-loop"), render="always"), timeout=90)

    assert ticker.status == "completed", (ticker.error_code, ticker.error_message)
    assert "TICKER-TEXT" in _text(ticker)
    assert ticker.crawl_report["pages_unsettled"] == 1
    assert ticker_seconds < 60  # the 4 s budget, plus worker and database overhead on a busy machine
    assert (busy.status, busy.error_code) == ("failed", "timeout")
    assert "kept running scripts" in busy.error_message
    assert not Chunk.objects.filter(source=busy).exists()
    _wait(lambda: _chromium_processes(worker) == [], 15, "no Chromium left after the crawls")
    assert worker.proc is not None and worker.proc.poll() is None


def test_without_chromium_always_fails_with_renderer_unavailable_and_auto_falls_back(
        api_client, chatbot, mixed, guarded_api, render_worker):
    render_worker(SCRAPER_CHROMIUM_PATH="/nonexistent/chromium")
    always = wait_for_source(_post(api_client, chatbot, mixed.url("/"), render="always"), timeout=90)
    auto = wait_for_source(_post(api_client, chatbot, mixed.url("/"), max_pages=10), timeout=90)

    assert (always.status, always.error_code) == ("failed", "renderer_unavailable")
    assert "apt-get install chromium" in always.error_message
    assert not any("rendering" in r.headers.get("user-agent", "") for r in mixed.requests)
    assert auto.status == "completed", (auto.error_code, auto.error_message)
    assert "MIXED-HOME-TEXT" in _text(auto)
    assert any("Chromium is not installed" in notice for notice in auto.notices), auto.notices
    assert auto.crawl_report["pages_rendered"] == 0


def test_killed_worker_leaves_no_chromium_behind(api_client, chatbot, spa, guarded_api, render_worker):
    worker = render_worker(SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS="60")
    source_id = _post(api_client, chatbot, spa.url("/never-settles"), render="always")
    browsers = _wait(lambda: _chromium_processes(worker), 60, "the worker to start Chromium")
    _wait(lambda: len(_chromium_processes(worker)) >= 3, 30, "Chromium to start its helpers")
    browsers = _chromium_processes(worker)
    profiles = {arg.split("=", 1)[1] for p in browsers for arg in _cmdline(p) if arg.startswith("--user-data-dir=")}
    assert profiles and all(os.path.isdir(profile) for profile in profiles)

    # SIGKILL the Celery processes only (main and pool), as the OOM killer would: Chromium is not touched.
    assert worker.proc is not None
    for process in [psutil.Process(worker.proc.pid), *worker.pool_children()]:
        process.send_signal(signal.SIGKILL)
    worker.proc.wait(timeout=10)

    _wait(lambda: _alive(browsers) == [], 20, "Chromium to die with its worker")
    _wait(lambda: not any(os.path.exists(profile) for profile in profiles), 10, "the profile to be deleted")
    assert Source.objects.get(pk=source_id).status == "processing"  # the reaper's job; not this test's


def test_soft_time_limit_and_cancel_leave_no_chromium_behind(api_client, chatbot, spa, guarded_api, render_worker):
    worker = render_worker(SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS="60", CELERY_TASK_SOFT_TIME_LIMIT="8",
                           CELERY_TASK_TIME_LIMIT="60")
    timed = wait_for_source(_post(api_client, chatbot, spa.url("/never-settles"), render="always"), timeout=90)

    assert (timed.status, timed.error_code) == ("failed", "timeout")
    _wait(lambda: _chromium_processes(worker) == [], 15, "no Chromium after the soft time limit")

    # Cancel while a page that never settles waits out its 60 s budget: noticed within about a second.
    source_id = _post(api_client, chatbot, spa.url("/never-settles"), render="always")
    _wait(lambda: _chromium_processes(worker), 60, "the crawl to start Chromium")
    asked = time.monotonic()
    assert api_client.post(f"/api/sources/{source_id}/cancel/").status_code in (200, 202)
    cancelled = wait_for_source(source_id, timeout=90)
    assert cancelled.status == "cancelled" and time.monotonic() - asked < 45
    assert not Chunk.objects.filter(source=cancelled, is_active=True).exists()
    _wait(lambda: _chromium_processes(worker) == [], 15, "no Chromium after the cancel")
    assert worker.proc is not None and worker.proc.poll() is None
