"""What a crawl is told and what it reports: its options, the state a caller keeps per page, and
the events ``Crawler.run`` yields (one per URL, then ``CrawlFinished``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botsmith.errors import ErrorCode
from sources.scraping.html import PageContent
from sources.scraping.sitemap import parse_lastmod


@dataclass(slots=True)
class CrawlOptions:
    """Knobs of one crawl.

    ``include``/``exclude``: glob patterns matched against the URL path plus query
    (``/docs/*``, ``*.php?*``; ``*`` also crosses ``/``); a pattern starting with ``re:`` is a
    regular expression searched in the whole URL. Excludes win; the start URL is exempt
    from both because the owner typed it. ``same_site``: same host, ignoring a leading
    ``www.`` and http/https; other subdomains count as other sites.
    """

    max_pages: int = 1
    max_depth: int = 2
    same_site: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    use_sitemap: bool = True
    delay: float = 1.0
    max_crawl_delay: float = 10.0  # a robots.txt Crawl-delay above this is capped
    respect_robots: bool = True  # robots.txt and <meta name="robots" content="noindex/nofollow">
    max_sitemap_urls: int = 10_000
    max_sitemap_files: int = 20
    # "auto": render in the browser only pages whose static HTML looks like an app shell; needs a renderer.
    render: str = "never"
    render_min_text_chars: int = 100


@dataclass(slots=True)
class PageState:
    """What the caller remembers of a page from the previous crawl."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    lastmod: datetime | None = None

    @classmethod
    def coerce(cls, value: PageState | Mapping[str, Any]) -> PageState:
        if isinstance(value, PageState):
            return value
        lastmod = value.get("lastmod")
        if isinstance(lastmod, str):
            lastmod = parse_lastmod(lastmod)
        return cls(
            etag=value.get("etag") or None,
            last_modified=value.get("last_modified") or None,
            content_hash=value.get("content_hash") or None,
            lastmod=lastmod if isinstance(lastmod, datetime) else None,
        )


@dataclass(frozen=True, slots=True)
class PageFetched:
    """A page with content. ``kind`` "pdf" carries the raw ``body`` for the document extractor
    and ``content`` None; "html" and "text" carry parsed ``content`` and an empty ``body``."""

    url: str
    canonical_url: str
    title: str
    status_code: int
    content: PageContent | None
    content_hash: str
    etag: str | None
    last_modified: str | None
    kind: str = "html"
    body: bytes = b""
    content_type: str = ""
    depth: int = 0
    lastmod: datetime | None = None  # from the sitemap; store it in PageState for the next crawl
    rendered: bool = False  # text and links come from the DOM after headless Chromium ran its scripts


@dataclass(frozen=True, slots=True)
class PageUnchanged:
    url: str
    reason: str  # "not_modified" | "same_hash" | "sitemap_lastmod"
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class PageFailed:
    url: str
    status_code: int | None
    error: str
    code: str = ErrorCode.FETCH_FAILED


@dataclass(frozen=True, slots=True)
class PageSkipped:
    url: str
    reason: str  # "robots.txt", "redirect", "off-site", "excluded by pattern", "duplicate content", ...
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PageGone:
    url: str
    status_code: int  # 404 or 410


@dataclass(frozen=True, slots=True)
class CrawlFinished:
    """Last event. Only a ``complete`` crawl lets the caller treat unseen known pages as removed."""

    pages_done: int
    pages_found: int
    complete: bool
    reason: str  # "complete" | "max_pages" | "cancelled"


CrawlEvent = PageFetched | PageUnchanged | PageFailed | PageSkipped | PageGone | CrawlFinished
