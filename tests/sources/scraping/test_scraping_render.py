"""Rendering with the real Chromium: app shells detected, text written by scripts read, the network guarded."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Iterator

import psutil
import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping import (
    DEFAULT_USER_AGENT,
    CrawlOptions,
    PageFetched,
    PageSkipped,
    SafeFetcher,
    crawl,
    parse_html,
)
from sources.scraping.chromium import find_chromium, group_pids
from sources.scraping.render import RenderConfig, Renderer, needs_render
from sources.scraping.urlsafety import IPAddress, is_public_address
from tests.fixtures.http_server import ABOUT_HTML, INDEX_HTML, Response, TestSite, serve_test_site
from tests.fixtures.spa_site import BUSY_LOOP_HTML, SHELL_HTML, Listener, serve_listener, spa_routes

ALLOWED = ipaddress.ip_network("127.0.0.2/32")


def only_test_site(ip: IPAddress) -> bool:
    return ip in ALLOWED or is_public_address(ip)


def chromium_or_skip() -> str:
    found = find_chromium("chromium")
    if found is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)  # CI installs it: rendering tests run for real there
        pytest.skip(reason)
    return found


def config(**overrides: object) -> RenderConfig:
    values: dict[str, object] = {"chromium": chromium_or_skip(), "page_timeout": 8.0, "is_public": only_test_site,
                                 "user_agent": "BotSmithBot/test (rendering)"}
    values.update(overrides)
    return RenderConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def listener() -> Iterator[Listener]:
    with serve_listener() as running:
        yield running


@pytest.fixture
def spa(listener: Listener) -> Iterator[TestSite]:
    with serve_test_site(host="127.0.0.2") as site:
        site.routes = spa_routes(listener.url)
        yield site


def _parsed(html: str, url: str = "http://example.com/"):
    return parse_html(html.encode(), url=url, http_encoding="utf-8")


@pytest.mark.parametrize(("html", "expected"), [
    (SHELL_HTML, True),  # empty #root, a <noscript> asking for JavaScript, no text
    (BUSY_LOOP_HTML, True),
    (INDEX_HTML.format(), False),  # plenty of server-rendered text, one inline script
    (ABOUT_HTML, False),  # little text but no script at all: a browser would not add any
    ("<html><body><main>" + "<p>Server text about widgets.</p>" * 20 + "</main><noscript>Please enable "
     "JavaScript for the full experience</noscript><script src=/a.js></script></body></html>", True),
    ("<html><body><main>" + "<p>Server text about widgets.</p>" * 20 + "<a href='#/docs/intro'>Intro</a>"
     "</main><script src=/a.js></script></body></html>", True),  # hash-routed app with prerendered text
    ("<html><body><main>" + "<p>Server text about widgets.</p>" * 20 + "<div id='app'>Rendered on the server"
     "</div></main><script src=/a.js></script></body></html>", False),  # root element already filled
])
def test_needs_render_spots_app_shells_only(html, expected):
    assert needs_render(html.encode(), _parsed(html), min_text_chars=100) is expected


def test_spa_page_is_rendered_and_its_script_never_reaches_loopback_or_metadata(spa, listener):
    with Renderer(config()) as renderer:
        page = renderer.render(spa.url("/docs/install"))
        refused = [r.target for r in renderer.proxy_stats.refused] if renderer.proxy_stats else []
        pgid = renderer.browser.pgid if renderer.browser else None

    assert page.settled
    assert "SPA-INSTALL-TEXT" in page.html and "<h1>Installing Gizmo</h1>" in page.html
    assert spa.url("/docs/usage") in page.links  # written by the app, absent from the static HTML
    assert "/api/content?route=%2Fdocs%2Finstall" in spa.requests_seen  # the XHR went through the proxy
    assert all(r.headers.get("user-agent") == "BotSmithBot/test (rendering)" for r in spa.requests)
    assert listener.connections == 0 and listener.hits == []
    assert f"{listener.url}/from-fetch" in refused and f"{listener.url}/from-img" in refused
    assert f"{listener.url}/from-iframe" in refused and f"127.0.0.1:{listener.port}" in refused  # websocket
    assert "http://169.254.169.254/latest/meta-data/" in refused
    assert f"{listener.url}/from-redirect" in refused  # a redirect is a new request, checked again
    assert any(path.startswith("/redirect?to=") for path in spa.requests_seen)
    assert pgid is not None and group_pids(pgid) == []


def test_crawl_follows_links_that_exist_only_after_rendering(spa, listener):
    options = CrawlOptions(max_pages=10, max_depth=3, render="auto", delay=0)
    with Renderer(config()) as renderer, \
            SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=only_test_site) as fetcher:
        events = list(crawl(spa.url("/"), fetcher=fetcher, options=options, renderer=renderer))

    fetched = {e.url.removeprefix(spa.base_url): e for e in events if isinstance(e, PageFetched)}
    assert set(fetched) == {"/", "/docs/install", "/docs/usage"}
    assert all(e.rendered for e in fetched.values())
    assert "SPA-USAGE-TEXT" in fetched["/docs/usage"].content.text
    assert fetched["/docs/usage"].title == "Use Gizmo"  # set by the script
    segment = fetched["/docs/install"].content.segments[0]
    assert segment.metadata["rendered"] is True and segment.metadata["heading_path"][0] == "Installing Gizmo"
    assert len({e.content_hash for e in fetched.values()}) == 3  # one shell, three distinct routes
    assert listener.connections == 0


def test_browser_runs_without_the_worker_environment_and_with_a_fresh_profile(spa, monkeypatch):
    monkeypatch.setenv("BOTSMITH_CANARY_SECRET", "do-not-leak")
    with Renderer(config()) as renderer:
        renderer.render(spa.url("/"))
        assert renderer.browser is not None and renderer.browser.pgid is not None
        profile = renderer.browser.profile
        envs, cmdlines = [], []
        for pid in group_pids(renderer.browser.pgid):
            try:  # a utility process may exit between the listing and the read
                cmdline = " ".join(psutil.Process(pid).cmdline())
                if "/chromium" in cmdline.split(" ", 1)[0]:
                    envs.append(psutil.Process(pid).environ())
                    cmdlines.append(cmdline)
            except psutil.NoSuchProcess:
                continue

    assert len(envs) >= 3  # the browser and its zygotes, utilities, renderers
    assert all("BOTSMITH_CANARY_SECRET" not in env and "SECRET_KEY" not in env for env in envs)
    assert all(env.get("HOME", str(profile)) == str(profile) for env in envs)
    main = next(c for c in cmdlines if "--remote-debugging-pipe" in c)
    assert f"--user-data-dir={profile}" in main and "--proxy-bypass-list=<-loopback>" in main
    assert "--remote-debugging-port" not in main  # no DevTools port anyone on the host could connect to
    assert not profile.exists()  # removed with the browser


def test_script_that_loops_forever_fails_the_page_at_its_budget_and_the_next_page_renders(spa):
    with Renderer(config(page_timeout=3.0)) as renderer:
        started = time.monotonic()
        with pytest.raises(ProcessingError) as caught:
            renderer.render(spa.url("/busy-loop"))
        elapsed = time.monotonic() - started
        after = renderer.render(spa.url("/"))

    assert caught.value.code == ErrorCode.TIMEOUT and "kept running scripts" in caught.value.message
    assert elapsed < 3.0 + 3.0 + 5.0  # budget + snapshot grace + closing the tab, not forever
    assert "SPA-HOME-TEXT" in after.html


def test_page_that_never_settles_is_read_at_its_budget(spa):
    with Renderer(config(page_timeout=3.0)) as renderer:
        page = renderer.render(spa.url("/never-settles"))

    assert not page.settled and renderer.stats.unsettled == 1
    assert "TICKER-TEXT" in page.html
    assert 3.0 <= page.seconds < 3.0 + 3.0


def test_memory_ceiling_kills_the_browser_group_and_the_next_page_gets_a_new_browser(spa):
    with Renderer(config(max_memory_bytes=900 * 1024 * 1024, page_timeout=20.0)) as renderer:
        with pytest.raises(ProcessingError) as caught:
            renderer.render(spa.url("/memory-hog"))  # grows by 50 MB every 25 ms, up to 3 GB
        killed = renderer.browser
        after = renderer.render(spa.url("/"))

    assert caught.value.code == ErrorCode.TOO_LARGE and "900 MB" in caught.value.message, caught.value
    assert killed is not None and killed.pgid is not None and group_pids(killed.pgid) == []
    assert "SPA-HOME-TEXT" in after.html and renderer.stats.restarts == 1


def test_missing_chromium_is_renderer_unavailable():
    with Renderer(RenderConfig(chromium="/nonexistent/chromium")) as renderer, \
            pytest.raises(ProcessingError) as caught:
        renderer.render("http://127.0.0.2:9/")

    assert caught.value.code == ErrorCode.RENDERER_UNAVAILABLE
    assert "apt-get install chromium" in caught.value.message
    assert renderer.unavailable and not renderer.budget_left()


def test_rendered_pages_per_crawl_are_capped_and_the_rest_read_statically_with_a_notice(spa):
    options = CrawlOptions(max_pages=5, max_depth=3, render="always", delay=0)
    with Renderer(config(max_pages=1)) as renderer, \
            SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=only_test_site) as fetcher:
        events = list(crawl(spa.url("/"), fetcher=fetcher, options=options, renderer=renderer))

    fetched = {e.url.removeprefix(spa.base_url): e for e in events if isinstance(e, PageFetched)}
    assert fetched["/"].rendered and "SPA-HOME-TEXT" in fetched["/"].content.text
    assert "/docs/install" in fetched and not fetched["/docs/install"].rendered
    assert renderer.stats.attempts == 1 and renderer.stats.pages == 1
    assert any("Only the first 1 pages" in notice for notice in renderer.stats.notices)


def test_hash_routes_that_render_distinct_content_are_distinct_pages(spa):
    options = CrawlOptions(max_pages=10, max_depth=3, render="auto", delay=0, use_sitemap=False)
    with Renderer(config()) as renderer, \
            SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=only_test_site) as fetcher:
        events = list(crawl(spa.url("/hash"), fetcher=fetcher, options=options, renderer=renderer))

    fetched = {e.url.removeprefix(spa.base_url): e for e in events if isinstance(e, PageFetched)}
    assert set(fetched) == {"/hash", "/hash#/guide", "/hash#/faq"}, [type(e).__name__ for e in events]
    assert "HASH-GUIDE-TEXT" in fetched["/hash#/guide"].content.text
    assert "HASH-FAQ-TEXT" in fetched["/hash#/faq"].content.text
    skipped = {e.url.removeprefix(spa.base_url): e.reason for e in events if isinstance(e, PageSkipped)}
    # "#!/guide" renders the guide again: same text, not a new page; "#/" is the app's root, i.e. /hash itself.
    assert skipped == {"/hash#!/guide": "duplicate content"}
    assert all(not key.endswith("#section") for key in fetched)  # an in-page anchor is no route


def test_pages_wait_for_a_free_browser_slot_and_give_up_at_their_budget(spa, tmp_path):
    from sources.scraping.render import _Slot

    held = _Slot(str(tmp_path), 1)
    assert held.acquire(time.monotonic() + 1)
    try:
        with Renderer(config(concurrency=1, slot_dir=str(tmp_path), page_timeout=1.5)) as renderer:
            started = time.monotonic()
            with pytest.raises(ProcessingError) as caught:
                renderer.render(spa.url("/"))
            waited = time.monotonic() - started
            assert renderer.browser is None  # no browser was started for a page that got no slot
    finally:
        held.release()

    assert caught.value.code == ErrorCode.TIMEOUT and "slot" in caught.value.message
    assert 1.5 <= waited < 5
    with Renderer(config(concurrency=1, slot_dir=str(tmp_path))) as renderer:
        assert "SPA-HOME-TEXT" in renderer.render(spa.url("/")).html  # the freed slot is taken


def test_service_worker_registration_is_refused_in_the_page_even_through_a_saved_getter(spa):
    with Renderer(config()) as renderer:
        page = renderer.render(spa.url("/service-worker"))
        refused = list(renderer.proxy_stats.refused) if renderer.proxy_stats else []

    found = re.search(r'<div id="root">([^<]*)</div>', page.html)
    assert found is not None, page.html[:500]
    text = found.group(1)
    assert "secure:true" in text  # http://127.0.0.2 is a secure context: service workers would be available
    assert "SW-REGISTERED" not in text and "PROTO-REGISTERED" not in text
    assert "SW-REJECTED" in text and "PROTO-REJECTED" in text
    # Refused in the page itself: the script was never even requested from the proxy.
    assert "/sw.js" not in spa.requests_seen
    assert not [r for r in refused if "sw.js" in r.target]


OTHER_SITE = ipaddress.ip_network("127.0.0.3/32")


def test_a_page_whose_script_navigates_to_another_site_is_not_stored_under_the_crawled_url(spa):
    def two_sites(ip: IPAddress) -> bool:
        return ip in ALLOWED or ip in OTHER_SITE or is_public_address(ip)

    with serve_test_site(host="127.0.0.3") as other:
        other.routes = {"/": Response(body=b"<html><head><title>Elsewhere</title></head><body><p>OTHER-SITE-TEXT "
                                           + b"lorem ipsum " * 40 + b"</p></body></html>")}
        spa.routes["/leaves"] = Response(body=(
            "<html><head><title>Leaving</title></head><body><div id='root'></div>"
            f"<script>location = '{other.url('/')}';</script></body></html>").encode())
        options = CrawlOptions(max_pages=5, max_depth=0, render="always", delay=0)
        with Renderer(config(is_public=two_sites)) as renderer, \
                SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=two_sites) as fetcher:
            events = list(crawl(spa.url("/leaves"), fetcher=fetcher, options=options, renderer=renderer))
        other_seen = other.requests_seen

    assert "/" in other_seen  # the browser did go there
    assert not [e for e in events if isinstance(e, PageFetched)]
    skipped = [e for e in events if isinstance(e, PageSkipped)]
    assert [(e.url, e.reason) for e in skipped] == [(spa.url("/leaves"), "off-site")]
    assert "127.0.0.3" in skipped[0].detail
