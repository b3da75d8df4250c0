"""robots.txt policy per origin and hardened sitemap parsing."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping import DEFAULT_USER_AGENT, SafeFetcher
from sources.scraping.robots import RobotsPolicy, parse_robots
from sources.scraping.sitemap import collect_sitemap_urls, parse_lastmod, parse_sitemap
from tests.fixtures.http_server import Response, TestSite

ROBOTS = b"""
User-agent: BotSmithBot
Disallow: /no-botsmith/
Crawl-delay: 3

User-agent: *
Disallow: /private/
Crawl-delay: 1

Sitemap: https://acme.example/sitemap.xml
"""


def test_rules_for_our_agent_take_precedence_over_star() -> None:
    parser = parse_robots(ROBOTS).parser
    assert parser is not None
    assert not parser.can_fetch(DEFAULT_USER_AGENT, "https://acme.example/no-botsmith/page")
    # Our own group applies, so the "*" group's /private/ rule does not.
    assert parser.can_fetch(DEFAULT_USER_AGENT, "https://acme.example/private/x")
    assert not parser.can_fetch("OtherBot/1.0", "https://acme.example/private/x")
    assert parser.crawl_delay(DEFAULT_USER_AGENT) == 3


def test_policy_fetches_robots_once_per_origin(site: TestSite, fetcher: SafeFetcher) -> None:
    policy = RobotsPolicy(fetcher)
    assert policy.can_fetch(site.url("/about"))
    assert not policy.can_fetch(site.url("/private/secret"))
    assert policy.sitemaps(site.url("/")) == [site.url("/sitemap.xml")]
    assert policy.crawl_delay(site.url("/")) is None
    assert site.requests_seen == ["/robots.txt"]


def test_crawl_delay_for_star_group(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes["/robots.txt"] = Response(body=b"User-agent: *\nCrawl-delay: 2.5\n", content_type="text/plain")
    assert RobotsPolicy(fetcher).crawl_delay(site.url("/")) == 2.5


def test_missing_robots_allows_everything(site: TestSite, fetcher: SafeFetcher) -> None:
    site.routes.pop("/robots.txt")
    policy = RobotsPolicy(fetcher)
    assert policy.can_fetch(site.url("/private/secret"))
    assert policy.rules_for(site.url("/")).status == "missing"


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_on_robots_disallows_everything(site: TestSite, fetcher: SafeFetcher, status: int) -> None:
    site.routes["/robots.txt"] = Response(status, b"down")
    policy = RobotsPolicy(fetcher)
    assert not policy.can_fetch(site.url("/"))
    rules = policy.rules_for(site.url("/"))
    assert rules.status == "unreachable"
    assert str(status) in rules.detail


def test_unreachable_robots_disallows_everything(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, total_timeout=0.5) as fetcher:
        site.routes["/robots.txt"] = site.routes["/slow"]
        policy = RobotsPolicy(fetcher)
        assert not policy.can_fetch(site.url("/about"))
        assert "could not be fetched" in policy.rules_for(site.url("/")).detail


SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> https://acme.example/ </loc><lastmod>2024-01-15</lastmod></url>
  <url><loc>https://acme.example/about</loc><lastmod>2024-02-01T08:30:00+01:00</lastmod></url>
  <url><loc>https://acme.example/nolastmod</loc></url>
  <url><loc>javascript:alert(1)</loc></url>
</urlset>"""


def test_parse_urlset_with_lastmod() -> None:
    parsed = parse_sitemap(SITEMAP)
    assert parsed.urls == [
        ("https://acme.example/", datetime(2024, 1, 15, tzinfo=UTC)),
        ("https://acme.example/about", datetime(2024, 2, 1, 7, 30, tzinfo=UTC)),
        ("https://acme.example/nolastmod", None),
    ]
    assert parsed.sitemaps == []


def test_parse_gzipped_sitemap_index() -> None:
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://acme.example/a.xml</loc></sitemap></sitemapindex>"
    )
    parsed = parse_sitemap(gzip.compress(index))
    assert parsed.sitemaps == ["https://acme.example/a.xml"]
    assert parsed.urls == []


def test_plain_text_sitemap() -> None:
    parsed = parse_sitemap(b"https://acme.example/a\nnot a url\nhttps://acme.example/b\n")
    assert [url for url, _ in parsed.urls] == ["https://acme.example/a", "https://acme.example/b"]


def test_entities_are_not_expanded_and_external_entities_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = f"""<?xml version="1.0"?>
<!DOCTYPE urlset [
  <!ENTITY xxe SYSTEM "file://{secret}">
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://acme.example/&xxe;</loc></url>
  <url><loc>https://acme.example/&c;</loc></url>
  <url><loc>https://acme.example/ok</loc></url>
</urlset>""".encode()
    parsed = parse_sitemap(hostile)
    joined = " ".join(url for url, _ in parsed.urls)
    assert "TOP-SECRET" not in joined
    assert "aaaa" not in joined
    assert ("https://acme.example/ok", None) in parsed.urls


def test_gzip_bomb_sitemap_is_refused() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (5 * 1024 * 1024) + b"</urlset>")
    with pytest.raises(ProcessingError) as excinfo:
        parse_sitemap(bomb, max_bytes=1024 * 1024)
    assert excinfo.value.code == ErrorCode.TOO_LARGE


def test_url_cap() -> None:
    body = b"<urlset>" + b"".join(b"<url><loc>https://a.example/%d</loc></url>" % i for i in range(50)) + b"</urlset>"
    assert len(parse_sitemap(body, max_urls=10).urls) == 10


def test_garbage_is_reported_as_corrupt() -> None:
    with pytest.raises(ProcessingError) as excinfo:
        parse_sitemap(b"<<<not xml")
    assert excinfo.value.code == ErrorCode.CORRUPT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15", datetime(2024, 1, 15, tzinfo=UTC)),
        ("2024-01-15T10:00Z", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T10:00:00", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_lastmod(value, expected) -> None:
    assert parse_lastmod(value) == expected


def test_collect_follows_index_and_gzip_on_the_test_site(site: TestSite, fetcher: SafeFetcher) -> None:
    def fetch_body(url: str) -> bytes | None:
        result = fetcher.fetch(url)
        return result.body if result.status_code == 200 else None

    entries = dict(collect_sitemap_urls([site.url("/sitemap.xml"), site.url("/no-such-sitemap.xml")], fetch_body))
    assert set(entries) == {site.url(p) for p in ("/", "/about", "/latin1", "/latin1-header")}
    assert entries[site.url("/latin1-header")] == datetime(2024, 2, 1, 8, 30, tzinfo=UTC)


def test_collect_stops_at_the_file_cap() -> None:
    calls: list[str] = []

    def fetch_body(url: str) -> bytes:
        calls.append(url)
        n = len(calls)
        return b"<sitemapindex><sitemap><loc>https://a.example/s%d.xml</loc></sitemap></sitemapindex>" % n

    assert collect_sitemap_urls(["https://a.example/s0.xml"], fetch_body, max_files=5) == []
    assert len(calls) == 5
