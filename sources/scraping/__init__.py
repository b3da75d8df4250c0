"""Pure web fetching, HTML extraction and crawling: no Django models, no Celery, no settings."""

from __future__ import annotations

from sources.scraping.crawl_events import (
    CrawlEvent,
    CrawlFinished,
    CrawlOptions,
    PageFailed,
    PageFetched,
    PageGone,
    PageSkipped,
    PageState,
    PageUnchanged,
)
from sources.scraping.crawl_scope import url_key
from sources.scraping.crawler import DEFAULT_USER_AGENT, Crawler, crawl
from sources.scraping.fetch import FetchResult, SafeFetcher, classify_content
from sources.scraping.html import PageContent, parse_html, parse_plain_text
from sources.scraping.robots import RobotsPolicy
from sources.scraping.sitemap import parse_sitemap
from sources.scraping.urlsafety import ValidatedURL, is_public_address, normalize_url, validate_url

__all__ = [
    "DEFAULT_USER_AGENT",
    "CrawlEvent",
    "CrawlFinished",
    "CrawlOptions",
    "Crawler",
    "FetchResult",
    "PageContent",
    "PageFailed",
    "PageFetched",
    "PageGone",
    "PageSkipped",
    "PageState",
    "PageUnchanged",
    "RobotsPolicy",
    "SafeFetcher",
    "ValidatedURL",
    "classify_content",
    "crawl",
    "is_public_address",
    "normalize_url",
    "parse_html",
    "parse_plain_text",
    "parse_sitemap",
    "url_key",
    "validate_url",
]
