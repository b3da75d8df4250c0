"""crawl() over the real local site: robots, redirects, sitemaps, dedupe, re-crawls and cancellation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping import (
    DEFAULT_USER_AGENT,
    CrawlFinished,
    CrawlOptions,
    PageFailed,
    PageFetched,
    PageGone,
    PageSkipped,
    PageState,
    PageUnchanged,
    SafeFetcher,
    crawl,
    url_key,
)
from tests.fixtures.http_server import BOILERPLATE_MARKERS, Response, TestSite


def _run(site: TestSite, fetcher: SafeFetcher, path: str = "/", **kwargs):
    known = kwargs.pop("known_pages", None)
    options = CrawlOptions(**{"max_pages": 20, "delay": 0, **kwargs})
    return list(crawl(site.url(path), fetcher=fetcher, options=options, known_pages=known))


def _by_type(events, kind):
    return {e.url: e for e in events if isinstance(e, kind)}


def test_full_crawl_of_the_test_site(site: TestSite, fetcher: SafeFetcher) -> None:
    events = _run(site, fetcher, max_pages=10)
    fetched = _by_type(events, PageFetched)
    skipped = _by_type(events, PageSkipped)
    u = site.url

    # robots.txt: the disallowed page is reported and never requested.
    assert skipped[u("/private/secret")].reason == "robots.txt"
    assert "/private/secret" not in site.requests_seen
    # 404 is reported as gone.
    assert _by_type(events, PageGone)[u("/missing")].status_code == 404
    # The redirect is followed once; /about (also linked and in the sitemap) is fetched once.
    assert skipped[u("/old")].reason == "redirect"
    assert site.requests_seen.count("/about") == 1
    assert u("/about") in fetched
    # /latin1-header is only listed in the gzip'd child of the sitemap index: the sitemap was used.
    assert "/sitemap-extra.xml.gz" in site.requests_seen
    assert fetched[u("/latin1-header")].lastmod == datetime(2024, 2, 1, 8, 30, tzinfo=UTC)
    assert "Crème brûlée du chef." in fetched[u("/latin1-header")].content.text
    assert "café crème" in fetched[u("/latin1")].content.text
    # Unsupported type skipped with its content type; PDF handed over raw.
    assert skipped[u("/data.bin")].reason == "content-type application/octet-stream"
    pdf = fetched[u("/doc.pdf")]
    assert pdf.kind == "pdf" and pdf.body.startswith(b"%PDF-") and pdf.content is None
    assert fetched[u("/plain.txt")].kind == "text"
    # Same text as /about under another URL.
    assert skipped[u("/about-copy")].reason == "duplicate content"
    # The home page: main text without chrome, metadata, and a content hash.
    home = fetched[u("/")]
    assert home.title == "Acme Widgets" and home.canonical_url == u("/") and home.status_code == 200
    assert home.etag and len(home.content_hash) == 64
    for marker in BOILERPLATE_MARKERS:
        assert marker not in home.content.text
    # Off-site links are never fetched nor reported; the crawl ran to completion.
    assert not any("elsewhere.example" in url for url in fetched | skipped)
    assert events[-1] == CrawlFinished(
        pages_done=9, pages_found=events[-1].pages_found, complete=True, reason="complete"
    )


def test_max_pages_one_fetches_only_the_start_page(site: TestSite, fetcher: SafeFetcher) -> None:
    events = _run(site, fetcher, max_pages=1)
    assert [type(e) for e in events] == [PageFetched, CrawlFinished]
    assert events[-1].complete is False and events[-1].reason == "max_pages"
    assert "/sitemap.xml" not in site.requests_seen
    assert site.requests_seen == ["/robots.txt", "/"]


def test_max_depth_limits_link_following(site: TestSite, fetcher: SafeFetcher) -> None:
    events = _run(site, fetcher, max_depth=0, use_sitemap=False)
    assert list(_by_type(events, PageFetched)) == [site.url("/")]
    assert events[-1].complete is True


def test_recrawl_with_etags_gives_not_modified(site: TestSite, fetcher: SafeFetcher) -> None:
    first = _by_type(_run(site, fetcher, use_sitemap=False), PageFetched)
    known = {url: {"etag": e.etag, "last_modified": e.last_modified, "content_hash": e.content_hash}
             for url, e in first.items()}  # fmt: skip
    site.requests.clear()
    events = _run(site, fetcher, use_sitemap=False, known_pages=known)
    unchanged = _by_type(events, PageUnchanged)
    assert set(unchanged) == set(first)
    assert {e.reason for e in unchanged.values()} == {"not_modified"}
    assert not _by_type(events, PageFetched)
    home_request = next(r for r in site.requests if r.path == "/")
    assert home_request.headers["if-none-match"] == first[site.url("/")].etag


def test_recrawl_without_validators_uses_the_content_hash(site: TestSite, fetcher: SafeFetcher) -> None:
    first = _by_type(_run(site, fetcher, max_pages=1), PageFetched)
    home = first[site.url("/")]
    events = _run(site, fetcher, max_pages=1, known_pages={home.url: PageState(content_hash=home.content_hash)})
    assert _by_type(events, PageUnchanged)[home.url].reason == "same_hash"


def test_recrawl_changed_page_is_fetched_again(site: TestSite, fetcher: SafeFetcher) -> None:
    known = {site.url("/about"): {"etag": '"stale"', "content_hash": "0" * 64}}
    events = _run(site, fetcher, "/about", max_pages=1, known_pages=known)
    assert isinstance(events[0], PageFetched) and events[0].url == site.url("/about")


def test_recrawl_skips_pages_whose_sitemap_lastmod_is_not_newer(site: TestSite, fetcher: SafeFetcher) -> None:
    known = {site.url("/latin1"): {"lastmod": "2024-01-15", "etag": '"x"'}}
    events = _run(site, fetcher, known_pages=known)
    assert _by_type(events, PageUnchanged)[site.url("/latin1")].reason == "sitemap_lastmod"
    assert "/latin1" not in site.requests_seen


def test_known_page_that_disappeared_is_reported_gone(site: TestSite, fetcher: SafeFetcher) -> None:
    events = _run(site, fetcher, use_sitemap=False, known_pages={site.url("/gone"): {"etag": '"x"'}})
    assert _by_type(events, PageGone)[site.url("/gone")].status_code == 410


def test_server_error_is_a_failed_page(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/"] = Response(body=b'<body><a href="/server-error">x</a><p>home</p></body>')
    failed = _by_type(_run(site, fetcher, use_sitemap=False), PageFailed)
    assert failed[site.url("/server-error")].status_code == 500
    assert "HTTP 500" in failed[site.url("/server-error")].error


def test_redirect_loop_fails_after_max_redirects(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, max_redirects=3) as fetcher:
        events = _run(site, fetcher, "/redirect-loop", use_sitemap=False)
    # The loop is cut by dedupe: each URL is visited once and nothing is fetched twice.
    assert site.requests_seen.count("/redirect-loop") == 1
    assert site.requests_seen.count("/redirect-loop-2") == 1
    assert [e.reason for e in events if isinstance(e, PageSkipped)] == ["redirect", "redirect"]


def test_redirect_off_site_is_skipped(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/"] = Response(body=b'<body><a href="/away">away</a><p>home</p></body>')
    site.routes["/away"] = Response(302, headers={"Location": "https://elsewhere.example/"})
    skipped = _by_type(_run(site, fetcher, use_sitemap=False), PageSkipped)
    assert skipped[site.url("/away")].reason == "redirect"
    assert skipped["https://elsewhere.example/"].reason == "off-site"


def test_redirect_into_private_network_fails_with_blocked_url(site: TestSite) -> None:
    import ipaddress

    from sources.scraping.urlsafety import is_public_address

    def policy(ip) -> bool:
        return ip == ipaddress.ip_address("127.0.0.1") or is_public_address(ip)

    site.routes["/"] = Response(body=b'<body><a href="/redirect-to-loopback">x</a><p>home</p></body>')
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=policy) as fetcher:
        events = _run(site, fetcher, use_sitemap=False, same_site=False)
    failed = [e for e in events if isinstance(e, PageFailed)]
    assert [e.code for e in failed] == [ErrorCode.BLOCKED_URL]
    assert "/after-loopback-redirect" not in site.requests_seen


def test_canonical_duplicate_is_skipped(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/"] = Response(body=b'<body><a href="/about">a</a> <a href="/alias">b</a><p>home</p></body>')
    site.routes["/alias"] = Response(
        body=b'<html><head><link rel="canonical" href="/about"></head><body><p>Slightly different</p></body></html>'
    )
    skipped = _by_type(_run(site, fetcher, use_sitemap=False), PageSkipped)
    assert skipped[site.url("/alias")].reason == "duplicate"


def test_include_and_exclude_patterns(site: TestSite, fetcher: SafeFetcher) -> None:
    events = _run(site, fetcher, exclude=("/latin1*", "re:\\.pdf$"), use_sitemap=False)
    skipped = _by_type(events, PageSkipped)
    assert skipped[site.url("/latin1")].reason == "excluded by pattern"
    assert skipped[site.url("/doc.pdf")].reason == "excluded by pattern"
    assert "/latin1" not in site.requests_seen and "/doc.pdf" not in site.requests_seen

    site.requests.clear()
    events = _run(site, fetcher, include=("/about*",), use_sitemap=False)
    fetched = _by_type(events, PageFetched)
    assert set(fetched) == {site.url("/"), site.url("/about")}  # the start page is exempt


def test_robots_server_error_skips_everything(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/robots.txt"] = Response(503, b"down")
    events = _run(site, fetcher)
    assert isinstance(events[0], PageSkipped) and events[0].reason == "robots.txt"
    assert "503" in events[0].detail
    assert "/" not in site.requests_seen


def test_respect_robots_false_fetches_disallowed_pages(site: TestSite, fetcher: SafeFetcher) -> None:
    fetched = _by_type(_run(site, fetcher, respect_robots=False, use_sitemap=False), PageFetched)
    assert site.url("/private/secret") in fetched
    assert "/robots.txt" not in site.requests_seen


def test_noindex_page_is_skipped_but_nofollow_stops_links(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/"] = Response(
        body=b'<html><head><meta name="robots" content="noindex"></head><body><a href="/about">a</a></body></html>'
    )
    events = _run(site, fetcher, use_sitemap=False)
    assert _by_type(events, PageSkipped)[site.url("/")].reason == "noindex"
    assert site.url("/about") in _by_type(events, PageFetched)

    site.routes["/"] = Response(
        body=b'<html><head><meta name="robots" content="nofollow"></head><body><a href="/about">a</a></body></html>'
    )
    site.requests.clear()
    _run(site, fetcher, use_sitemap=False)
    assert "/about" not in site.requests_seen


def test_cancellation_between_pages(site: TestSite, fetcher: SafeFetcher) -> None:
    done: list[object] = []
    options = CrawlOptions(max_pages=20, delay=0)
    events = []
    for event in crawl(site.url("/"), fetcher=fetcher, options=options, should_stop=lambda: len(done) >= 2):
        events.append(event)
        if isinstance(event, PageFetched):
            done.append(event)
    assert len(done) == 2
    assert events[-1].reason == "cancelled" and events[-1].complete is False


def test_progress_and_politeness_delay(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/robots.txt"] = Response(body=b"User-agent: *\nCrawl-delay: 2\n", content_type="text/plain")
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    progress: list[tuple[int, int]] = []
    options = CrawlOptions(max_pages=4, delay=0.5, use_sitemap=False)
    events = list(
        crawl(site.url("/"), fetcher=fetcher, options=options, on_progress=lambda d, f: progress.append((d, f)),
              sleep=sleep, clock=lambda: now[0])
    )  # fmt: skip
    assert sleeps and all(s == pytest.approx(2.0) for s in sleeps)  # robots Crawl-delay beats our 0.5 s
    assert progress[0] == (0, 1)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert progress[-1][0] == events[-1].pages_done == 4
    assert all(found <= 4 for _, found in progress)


def test_blocked_start_url_raises_at_once(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False) as fetcher, pytest.raises(ProcessingError) as excinfo:
        crawl(site.url("/"), fetcher=fetcher, options=CrawlOptions())
    assert excinfo.value.code == ErrorCode.BLOCKED_URL
    assert site.requests_seen == []


def test_start_redirect_to_www_host_stays_in_scope(site: TestSite) -> None:
    resolver = lambda host, port: ["127.0.0.1"]  # noqa: E731
    site.routes["/"] = Response(301, headers={"Location": f"http://www.acme.test:{site.port}/about"})
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, resolver=resolver) as fetcher:
        events = list(crawl(f"http://acme.test:{site.port}/", fetcher=fetcher,
                            options=CrawlOptions(max_pages=3, delay=0, use_sitemap=False)))  # fmt: skip
    fetched = _by_type(events, PageFetched)
    assert f"http://www.acme.test:{site.port}/about" in fetched


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTP://Example.COM:80/a?utm_source=x&b=2#frag", "http://example.com/a?b=2"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("mailto:a@b.c", None),
    ],
)
def test_url_key(url: str, key: str | None) -> None:
    assert url_key(url) == key
