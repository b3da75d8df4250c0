"""Render JavaScript pages in headless Chromium behind the guard proxy, and decide which pages need it."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping.chromium import Browser, BrowserGone, CdpMessageTooLarge, CdpTimeout
from sources.scraping.guard_proxy import GuardProxy, ProxyStats
from sources.scraping.html import PageContent
from sources.scraping.urlsafety import AddressPolicy, Resolver

logger = logging.getLogger(__name__)

RENDER_MODES = ("auto", "always", "never")
_SHELL_IDS = frozenset({"root", "app", "__next", "__nuxt", "___gatsby", "svelte", "main-app", "application"})
_NOSCRIPT_RE = re.compile(r"javascript|enable\s+js", re.IGNORECASE)
_MAX_RESTARTS = 3
# Runs in every document before its own scripts: DOM-quiet clock, no service workers.
PRELUDE_JS = """(() => {
  let last = Date.now();
  const mark = () => { last = Date.now(); };
  new MutationObserver(mark).observe(document, {subtree: true, childList: true, characterData: true});
  Object.defineProperty(window, '__botsmithQuietMs', {value: () => Date.now() - last});
  // Service workers: gone from the prototype (a saved getter cannot be reached), register() always rejects.
  try { delete Navigator.prototype.serviceWorker; } catch (e) {}
  try { Object.defineProperty(navigator, 'serviceWorker', {get: () => undefined}); } catch (e) {}
  try {
    if (typeof ServiceWorkerContainer === 'function') {
      const refuse = function register() {
        return Promise.reject(new DOMException('Service workers are disabled', 'SecurityError'));
      };
      Object.defineProperty(ServiceWorkerContainer.prototype, 'register',
                            {value: refuse, writable: false, configurable: false});
    }
  } catch (e) {}
})();"""
SNAPSHOT_JS = """(() => {
  const seen = new Set(); const links = [];
  const add = (value) => {
    if (!value) return;
    try {
      const u = new URL(value, document.baseURI);
      const web = u.protocol === 'http:' || u.protocol === 'https:';
      if (web && !seen.has(u.href)) { seen.add(u.href); links.push(u.href); }
    } catch (e) {}
  };
  document.querySelectorAll('a[href], area[href]').forEach(a => add(a.getAttribute('href')));
  document.querySelectorAll('[data-href], [data-url], [data-link], [routerlink], [ng-reflect-router-link]')
    .forEach(e => add(e.getAttribute('data-href') || e.getAttribute('data-url') || e.getAttribute('data-link')
                      || e.getAttribute('routerlink') || e.getAttribute('ng-reflect-router-link')));
  const doctype = document.doctype ? '<!DOCTYPE html>' : '';
  return {html: doctype + document.documentElement.outerHTML, links: links.slice(0, 5000), url: location.href};
})()"""


@dataclass(frozen=True, slots=True)
class RenderConfig:
    chromium: str
    page_timeout: float = 20.0
    settle_ms: int = 500
    max_pages: int = 100
    concurrency: int = 2
    max_memory_bytes: int = 1024 * 1024 * 1024
    max_bytes: int = 10 * 1024 * 1024
    user_agent: str = ""
    allow_private: bool = False
    is_public: AddressPolicy | None = None
    resolver: Resolver | None = None
    slot_dir: str = ""


@dataclass(frozen=True, slots=True)
class RenderedPage:
    url: str
    html: str
    links: list[str]
    settled: bool
    seconds: float


@dataclass(slots=True)
class RenderStats:
    attempts: int = 0  # pages handed to the browser, counted against RenderConfig.max_pages
    pages: int = 0  # pages read from the browser
    unsettled: int = 0
    restarts: int = 0
    peak_rss: int = 0
    notices: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notices and len(self.notices) < 20:
            self.notices.append(text)


def needs_render(body: bytes, content: PageContent, *, min_text_chars: int) -> bool:
    """True when the static HTML looks like a client-side app: little main text or an app-shell marker.

    A page without any script is never rendered: a browser would show the same nothing.
    """
    head = body[:2_000_000]
    soup = BeautifulSoup(head, "lxml")
    if not soup.find("script"):
        return False
    if len(content.text) < min_text_chars:
        return True
    for noscript in soup.find_all("noscript"):
        if _NOSCRIPT_RE.search(noscript.get_text(" ")):
            return True
    for element in soup.find_all(id=lambda v: v is not None and v.lower() in _SHELL_IDS):
        if isinstance(element, Tag) and not element.get_text(strip=True):
            return True
    if soup.find(lambda t: t.name == "app-root" or t.has_attr("ng-app") or t.has_attr("data-reactroot")) is not None:
        return not any(len(t.get_text(strip=True)) > min_text_chars for t in soup.find_all(["app-root"]))
    hrefs = [str(a.get("href", "")) for a in soup.find_all("a", href=True)]
    return any(h.startswith(("#/", "#!")) for h in hrefs)


class _Slot:
    """A per-host cap on concurrent browser pages: one of N lock files under ``slot_dir``."""

    def __init__(self, directory: str, count: int) -> None:
        self.dir = Path(directory or Path(tempfile.gettempdir()) / "botsmith-render-slots")
        self.count = max(1, count)
        self.fd: int | None = None

    def _prepare(self) -> None:
        """The directory is the worker user's own (mode 0700, not a symlink): nobody else can plant locks."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.dir)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE, "The browser slot directory is not a directory "
                                  "owned by the worker's user; pages were not rendered.")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.dir, 0o700)

    def acquire(self, deadline: float) -> bool:
        self._prepare()
        while True:
            for index in range(self.count):
                try:
                    fd = os.open(self.dir / f"slot-{index}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
                except OSError as exc:
                    logger.error("render slot %s/slot-%s.lock: %s", self.dir, index, exc)
                    raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE, "A browser slot lock file could not "
                                          "be opened safely; pages were not rendered.") from None
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self.fd = fd
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class Renderer:
    """One per crawl: a guard proxy plus a lazily started browser; ``with Renderer(config) as r:``."""

    def __init__(self, config: RenderConfig, *, should_stop: Callable[[], bool] | None = None) -> None:
        self.config = config
        # Checked about once a second while a page settles, so a cancel does not wait out the page budget.
        self.should_stop = should_stop
        self.stats = RenderStats()
        self.proxy: GuardProxy | None = None
        self.browser: Browser | None = None
        self.unavailable: str | None = None
        self._proxy_stats: ProxyStats | None = None

    @property
    def proxy_stats(self) -> ProxyStats | None:
        """What the guard proxy allowed and refused; kept after ``close()``."""
        return self._proxy_stats

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._drop_browser()
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None

    def _drop_browser(self) -> None:
        if self.browser is not None:
            self.stats.peak_rss = max(self.stats.peak_rss, self.browser.peak_rss)
            self.browser.close()
            self.browser = None

    def budget_left(self) -> bool:
        return self.stats.attempts < self.config.max_pages and self.unavailable is None

    def _ensure_browser(self) -> Browser:
        if self.browser is not None and self.browser.alive():
            return self.browser
        if self.browser is not None:
            self._drop_browser()
            self.stats.restarts += 1
            if self.stats.restarts > _MAX_RESTARTS:
                self.unavailable = "The browser crashed repeatedly; the remaining pages were not rendered."
                raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE, self.unavailable)
        if self.proxy is None:
            self.proxy = GuardProxy(allow_private=self.config.allow_private, is_public=self.config.is_public,
                                    resolver=self.config.resolver,
                                    connection_deadline=self.config.page_timeout + 10,
                                    max_connection_bytes=4 * self.config.max_bytes + (8 << 20)).__enter__()
            self._proxy_stats = self.proxy.stats
        try:
            self.browser = Browser(self.config.chromium, proxy_port=self.proxy.port,
                                   max_memory_bytes=self.config.max_memory_bytes,
                                   max_message_bytes=2 * self.config.max_bytes + (1 << 20)).start()
        except ProcessingError as exc:
            self.unavailable = exc.message
            raise
        return self.browser

    def render(self, url: str) -> RenderedPage:
        """Load ``url`` in a new tab, wait for network idle and a quiet DOM (or the budget), snapshot the DOM."""
        started = time.monotonic()
        deadline = started + self.config.page_timeout
        slot = _Slot(self.config.slot_dir, self.config.concurrency)
        if not slot.acquire(deadline):
            raise ProcessingError(ErrorCode.TIMEOUT, "Every browser slot of this worker stayed busy; not rendered.")
        try:
            browser = self._ensure_browser()
            self.stats.attempts += 1
            try:
                page = self._render_in_tab(browser, url, started, deadline)
                self.stats.pages += 1
                return page
            except CdpMessageTooLarge:
                raise ProcessingError(ErrorCode.TOO_LARGE, "The page sent the browser's control channel more "
                                      "data than the size limit allows; not rendered.") from None
            except BrowserGone as exc:
                if browser.killed_for_memory:
                    limit = self.config.max_memory_bytes // (1024 * 1024)
                    raise ProcessingError(ErrorCode.TOO_LARGE,
                                          f"The page used more than {limit} MB of browser memory.") from None
                raise ProcessingError(ErrorCode.FETCH_FAILED, f"The browser failed on this page ({exc}).") from None
        finally:
            slot.release()
            if self.browser is not None:
                self.stats.peak_rss = max(self.stats.peak_rss, self.browser.peak_rss)

    def _render_in_tab(self, browser: Browser, url: str, started: float, deadline: float) -> RenderedPage:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        try:
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for method, params in (
                ("Page.enable", {}), ("Network.enable", {}), ("Network.setBypassServiceWorker", {"bypass": True}),
                ("Page.addScriptToEvaluateOnNewDocument", {"source": PRELUDE_JS}),
                ("Network.setUserAgentOverride", {"userAgent": self.config.user_agent}),
            ):
                if method != "Network.setUserAgentOverride" or self.config.user_agent:
                    browser.call(method, params, session=session)
            browser.events(0)  # drop what the blank tab produced
            navigated = browser.call("Page.navigate", {"url": url}, session=session,
                                     timeout=max(deadline - time.monotonic(), 1.0))
            if navigated.get("errorText"):
                raise ProcessingError(ErrorCode.FETCH_FAILED, f"The browser could not load the page "
                                                              f"({navigated['errorText']}).")
            settled = self._wait_settled(browser, session, deadline)
            if not settled:
                self.stats.unsettled += 1
            grace = 3.0  # a renderer stuck in a script loop cannot answer: the page fails, the crawl goes on
            try:
                snapshot = browser.call("Runtime.evaluate", {"expression": SNAPSHOT_JS, "returnByValue": True},
                                        session=session, timeout=max(deadline - time.monotonic(), 0) + grace)
            except CdpTimeout:
                raise ProcessingError(ErrorCode.TIMEOUT, "The page kept running scripts and never let the "
                                      f"browser read it within {self.config.page_timeout:g} seconds.") from None
            value: dict[str, Any] = snapshot.get("result", {}).get("value") or {}
            html = str(value.get("html") or "")
            if len(html.encode("utf-8", "replace")) > self.config.max_bytes:
                raise ProcessingError(ErrorCode.TOO_LARGE, "The rendered page is larger than the size limit.")
            links = [str(link) for link in value.get("links") or []]
            return RenderedPage(url=str(value.get("url") or url), html=html, links=links, settled=settled,
                                seconds=time.monotonic() - started)
        finally:
            try:
                browser.call("Target.closeTarget", {"targetId": target}, timeout=5)
            except (BrowserGone, CdpTimeout):
                browser.kill()  # restarted for the next page

    def _wait_settled(self, browser: Browser, session: str, deadline: float) -> bool:
        """Load event, no request in flight and no DOM change for ``settle_ms``; False at the deadline."""
        quiet = self.config.settle_ms / 1000
        inflight: set[str] = set()
        loaded = False
        idle_since: float | None = None
        last_probe = 0.0
        next_stop_check = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if self.should_stop is not None and time.monotonic() >= next_stop_check:
                next_stop_check = time.monotonic() + 1.0
                if self.should_stop():
                    return False
            for event in browser.events(min(0.1, max(deadline - time.monotonic(), 0))):
                if event.get("sessionId") != session:
                    continue
                method, params = event.get("method"), event.get("params", {})
                if method == "Page.loadEventFired":
                    loaded = True
                elif method == "Network.requestWillBeSent" and params.get("type") != "EventSource":
                    inflight.add(params.get("requestId", ""))
                elif method in ("Network.loadingFinished", "Network.loadingFailed") or (
                    # A cross-site frame's document finishes loading in its own (unattached) target.
                    method == "Network.responseReceived" and params.get("type") == "Document"
                ):
                    inflight.discard(params.get("requestId", ""))
            now = time.monotonic()
            if not loaded or inflight:
                idle_since = None
                continue
            idle_since = idle_since or now
            if now - idle_since < quiet or now - last_probe < 0.1:
                continue
            last_probe = now
            try:
                probe = browser.call("Runtime.evaluate", {"expression": "window.__botsmithQuietMs()",
                                                          "returnByValue": True},
                                     session=session, timeout=max(min(1.0, deadline - now), 0.05))
            except CdpTimeout:
                continue  # busy renderer: keep waiting until the budget
            quiet_ms = probe.get("result", {}).get("value")
            if isinstance(quiet_ms, int | float) and quiet_ms >= self.config.settle_ms:
                return True
        return False
