"""Crawl a website breadth-first and yield one event per URL; no storage, the caller persists."""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from botsmith.errors import ErrorCode, ProcessingError
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
from sources.scraping.crawl_scope import SKIP_EXTENSIONS, pattern_matches, site_of, url_key
from sources.scraping.fetch import SUPPORTED_TYPES, FetchResult, SafeFetcher, classify_content
from sources.scraping.html import PageContent, clean_url, parse_html, parse_plain_text
from sources.scraping.render import Renderer, needs_render
from sources.scraping.robots import RobotsPolicy
from sources.scraping.sitemap import collect_sitemap_urls

BOT_VERSION = "0.1"
DEFAULT_USER_AGENT = f"BotSmithBot/{BOT_VERSION} (+https://github.com/botsmith/botsmith)"

ProgressCallback = Callable[[int, int], None]


class _LeftSite(Exception):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


def content_hash(text_or_bytes: str | bytes) -> str:
    data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
    return hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class _Entry:
    url: str
    depth: int
    hops: int = 0
    lastmod: datetime | None = None


class Crawler:
    """Breadth-first crawl state; use ``crawl()`` unless you need to inspect it."""

    def __init__(
        self,
        start_url: str,
        *,
        fetcher: SafeFetcher,
        options: CrawlOptions,
        known_pages: Mapping[str, PageState | Mapping[str, Any]] | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        renderer: Renderer | None = None,
    ) -> None:
        self.start = fetcher.validate(start_url).url
        self.renderer = renderer
        self.fetcher = fetcher
        self.options = options
        self.known = {key: PageState.coerce(v) for k, v in (known_pages or {}).items() if (key := url_key(k))}
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.sleep = sleep
        self.clock = clock
        self.robots = RobotsPolicy(fetcher) if options.respect_robots else None
        self.frontier: deque[_Entry] = deque()
        self.seen: set[str] = set()
        self.fetched: set[str] = set()
        self.hashes: dict[str, str] = {}
        self.sites = {site_of(self.start)}
        self.last_request: dict[str, float] = {}
        self.pages_done = 0
        self.found = 0

    def in_scope(self, url: str) -> bool:
        return not self.options.same_site or site_of(url) in self.sites

    def enqueue(
        self, url: str, depth: int, *, hops: int = 0, lastmod: datetime | None = None, front: bool = False
    ) -> None:
        key = url_key(url)
        if key is None or key in self.seen or not self.in_scope(key):
            return
        self.seen.add(key)
        self.found += 1
        entry = _Entry(key, depth, hops, lastmod)
        if front:
            self.frontier.appendleft(entry)
        else:
            self.frontier.append(entry)

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.pages_done, min(max(self.found, self.pages_done), self.options.max_pages))

    def run(self) -> Iterator[CrawlEvent]:
        self.enqueue(self.start, 0)
        if self.options.use_sitemap and self.options.max_pages > 1:
            for loc, lastmod in self._sitemap_entries():
                self.enqueue(loc, 1, lastmod=lastmod)
        for url in self.known:
            self.enqueue(url, 1)
        self.progress()
        while self.frontier and self.pages_done < self.options.max_pages:
            if self.should_stop is not None and self.should_stop():
                yield CrawlFinished(self.pages_done, self.found, complete=False, reason="cancelled")
                return
            entry = self.frontier.popleft()
            counted_before = self.pages_done
            yield from self._visit(entry)
            if self.pages_done != counted_before:
                self.progress()
        complete = not self.frontier
        yield CrawlFinished(
            self.pages_done, self.found, complete=complete, reason="complete" if complete else "max_pages"
        )

    def _visit(self, entry: _Entry) -> Iterator[CrawlEvent]:
        url = entry.url
        skip = self._pre_fetch_skip(url, is_start=entry.depth == 0)
        if skip is not None:
            yield skip
            return
        if self.robots is not None and self.robots.rules_for(url).status == "blocked":
            # robots.txt of this origin was refused by the address check: so is the page.
            self.pages_done += 1
            yield PageFailed(url, None, self.robots.rules_for(url).detail, ErrorCode.BLOCKED_URL)
            return
        previous = self.known.get(url)
        if previous and previous.lastmod and entry.lastmod and entry.lastmod <= previous.lastmod:
            self.pages_done += 1
            yield PageUnchanged(url, "sitemap_lastmod", previous.etag, previous.last_modified)
            return
        self._wait_politely(url)
        try:
            result = self.fetcher.fetch(
                url,
                etag=previous.etag if previous else None,
                last_modified=previous.last_modified if previous else None,
                follow_redirects=False,
                content_types=SUPPORTED_TYPES,
            )
        except ProcessingError as exc:
            self.pages_done += 1
            yield PageFailed(url, None, exc.message, exc.code)
            return
        finally:
            self.last_request[site_of(url)] = self.clock()
        if result.location:
            yield from self._redirect(entry, result)
            return
        self.pages_done += 1
        yield from self._response(entry, result, previous)

    def _redirect(self, entry: _Entry, result: FetchResult) -> Iterator[CrawlEvent]:
        """Redirect targets go back into the frontier so robots, scope and dedupe apply to them too."""
        location = result.location or ""
        if entry.hops >= self.fetcher.max_redirects:
            self.pages_done += 1
            yield PageFailed(entry.url, result.status_code, "The website redirected too many times.")
            return
        yield PageSkipped(entry.url, "redirect", f"redirects to {location}")
        target = url_key(location)
        if target is None:
            return
        if entry.depth == 0:
            self.sites.add(site_of(target))  # http -> https, example.com -> www.example.com
        if not self.in_scope(target):
            yield PageSkipped(target, "off-site", f"redirect target of {entry.url}")
            return
        self.enqueue(target, entry.depth, hops=entry.hops + 1, lastmod=entry.lastmod, front=True)

    def _response(self, entry: _Entry, result: FetchResult, previous: PageState | None) -> Iterator[CrawlEvent]:
        url = entry.url
        if result.not_modified:
            yield PageUnchanged(
                url, "not_modified", result.etag or (previous.etag if previous else None), result.last_modified
            )
            return
        if result.status_code in (404, 410):
            yield PageGone(url, result.status_code)
            return
        if not 200 <= result.status_code < 300:
            yield PageFailed(url, result.status_code, f"The website answered HTTP {result.status_code} for this page.")
            return
        kind = None if result.body_skipped else classify_content(result.content_type, result.body)
        if kind is None:
            yield PageSkipped(url, f"content-type {result.content_type or 'unknown'}")
            return
        content: PageContent | None = None
        rendered = False
        if kind == "pdf":
            digest = content_hash(result.body)
        else:
            try:
                if kind == "html":
                    content = parse_html(result.body, url=url, http_encoding=result.encoding)
                else:
                    content = parse_plain_text(result.body, url, result.encoding)
            except Exception:  # a parser bug on one page must not end the whole crawl
                yield PageFailed(url, result.status_code, "The page could not be read.", ErrorCode.CORRUPT)
                return
            if kind == "html" and self._wants_render(result.body, content):
                try:
                    content = self._render(url, content)
                    rendered = True
                except _LeftSite as left:
                    yield PageSkipped(url, "off-site", f"its scripts took the browser to another site "
                                                       f"({left.host or 'no site'}); not stored")
                    return
                except ProcessingError as exc:
                    if self.options.render == "always" or len(content.text) < self.options.render_min_text_chars:
                        yield PageFailed(url, result.status_code, exc.message, exc.code)
                        return
                    if self.renderer is not None:
                        self.renderer.stats.note(f"Some pages could not be rendered and were read as plain HTML "
                                                 f"({exc.message})")
            digest = content_hash(content.text)
        canonical = url
        if content is not None and content.canonical_url:
            candidate = url_key(content.canonical_url)
            if candidate and self.in_scope(candidate):
                canonical = candidate
        if content is not None and entry.depth < self.options.max_depth and not self._nofollow(content):
            for link in content.links:
                self.enqueue(link, entry.depth + 1)
        if canonical != url and canonical in self.fetched:
            yield PageSkipped(url, "duplicate", f"its canonical URL {canonical} was already fetched")
            return
        if digest in self.hashes:
            yield PageSkipped(url, "duplicate content", f"same text as {self.hashes[digest]}")
            return
        self.hashes[digest] = url
        self.fetched.update((url, canonical))
        self.seen.add(canonical)
        if content is not None and content.noindex and self.options.respect_robots:
            yield PageSkipped(url, "noindex", "the page asks search engines not to index it")
            return
        if previous and previous.content_hash == digest:
            yield PageUnchanged(url, "same_hash", result.etag, result.last_modified)
            return
        yield PageFetched(
            url=url,
            canonical_url=canonical,
            title=content.title if content else _filename(url),
            status_code=result.status_code,
            content=content,
            content_hash=digest,
            etag=result.etag,
            last_modified=result.last_modified,
            kind=kind,
            body=result.body if kind == "pdf" else b"",
            content_type=result.content_type,
            depth=entry.depth,
            lastmod=entry.lastmod,
            rendered=rendered,
        )

    def _wants_render(self, body: bytes, content: PageContent) -> bool:
        mode = self.options.render
        if mode == "never" or self.renderer is None:
            return False
        if not self.renderer.budget_left():
            if self.renderer.unavailable is None:
                self.renderer.stats.note(f"Only the first {self.renderer.config.max_pages} pages of a crawl are "
                                         "rendered in the browser; the others were read as plain HTML.")
            return False
        return mode == "always" or needs_render(body, content, min_text_chars=self.options.render_min_text_chars)

    def _render(self, url: str, static: PageContent) -> PageContent:
        """The page as the browser shows it: same extraction as static pages, links from the live DOM."""
        assert self.renderer is not None
        page = self.renderer.render(url)
        if not self.in_scope(page.url):  # a script navigated away: what the browser shows is another site's
            raise _LeftSite(urlsplit(page.url).hostname or "")
        content = parse_html(page.html.encode("utf-8", "replace"), url=url, http_encoding="utf-8")
        seen = set(content.links)
        for link in page.links:
            cleaned = clean_url(link, url)
            route = link.partition("#")[2]
            if cleaned and route.startswith(("/", "!/")):
                cleaned += "#" + route  # a hash route of the app: another page once rendered
            if cleaned and cleaned not in seen:
                seen.add(cleaned)
                content.links.append(cleaned)
        for segment in content.segments:
            segment.metadata["rendered"] = True
        return content

    def _nofollow(self, content: PageContent) -> bool:
        return content.nofollow and self.options.respect_robots

    def _pre_fetch_skip(self, url: str, *, is_start: bool) -> PageSkipped | None:
        options = self.options
        if not is_start:
            if any(pattern_matches(p, url) for p in options.exclude):
                return PageSkipped(url, "excluded by pattern")
            if options.include and not any(pattern_matches(p, url) for p in options.include):
                return PageSkipped(url, "excluded by pattern", "matches no include pattern")
            last = urlsplit(url).path.rsplit("/", 1)[-1].lower()
            ext = last[last.rfind(".") :] if "." in last else ""
            if ext in SKIP_EXTENSIONS:
                return PageSkipped(url, f"file type {ext}")
        if self.robots is not None and not self.robots.can_fetch(url):
            rules = self.robots.rules_for(url)
            if rules.status == "blocked":
                return None
            detail = rules.detail if rules.status == "unreachable" else "disallowed by robots.txt"
            return PageSkipped(url, "robots.txt", detail)
        return None

    def _wait_politely(self, url: str) -> None:
        delay = self.options.delay
        if self.robots is not None:
            robots_delay = self.robots.crawl_delay(url)
            if robots_delay:
                delay = max(delay, min(robots_delay, self.options.max_crawl_delay))
        last = self.last_request.get(site_of(url))
        if last is not None and delay > 0:
            wait = delay - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)

    def _sitemap_entries(self) -> list[tuple[str, datetime | None]]:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.start))
        candidates = self.robots.sitemaps(self.start) if self.robots is not None else []
        candidates.append(origin + "/sitemap.xml")

        def fetch_body(sitemap_url: str) -> bytes | None:
            if not self.in_scope(sitemap_url):
                return None
            try:
                result = self.fetcher.fetch(sitemap_url, accept="application/xml,text/xml;q=0.9,*/*;q=0.5")
            except ProcessingError:
                return None
            return result.body if result.status_code == 200 else None

        return collect_sitemap_urls(
            candidates,
            fetch_body,
            max_urls=self.options.max_sitemap_urls,
            max_files=self.options.max_sitemap_files,
        )


def _filename(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or url


def crawl(
    start_url: str,
    *,
    fetcher: SafeFetcher,
    options: CrawlOptions,
    known_pages: Mapping[str, PageState | Mapping[str, Any]] | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    renderer: Renderer | None = None,
) -> Iterator[CrawlEvent]:
    """Yield a ``CrawlEvent`` per URL considered, then one ``CrawlFinished``.

    Raises ``ProcessingError`` at once when the start URL itself is refused or unresolvable.
    Known pages are re-checked as seeds (conditional requests), so a page that vanished shows
    up as ``PageGone``; the caller may treat other unseen known pages as removed only when
    ``CrawlFinished.complete`` is true.
    """
    crawler = Crawler(
        start_url,
        fetcher=fetcher,
        options=options,
        known_pages=known_pages,
        on_progress=on_progress,
        should_stop=should_stop,
        sleep=sleep,
        clock=clock,
        renderer=renderer,
    )
    return crawler.run()
