"""Figure: rendered pages/s and browser memory per page, against the static path on the same site,
against a bare ``chromium --headless --dump-dom`` run per page (goal: ours >= 0.7x of it), and against
Selenium and Playwright driving the same Chromium (the driver choice of issue 15).

Usage: ``python benchmarks/render.py [--quick] [--pages 20] [--repeat 3]``. A local site on 127.0.0.2
serves N single-page-app routes (an empty shell; the script fetches the route's ~2 KB of prose by XHR
after 150 ms and writes it) and the same N pages server-rendered. Measured, median of ``--repeat``:

- static: ``SafeFetcher.fetch`` + ``parse_html`` of the server-rendered pages (the crawler's fast path);
- rendered: ``Renderer.render`` + ``parse_html`` of the SPA routes: one browser per run (started inside
  the clock, as a crawl does), a new tab per page, the guard proxy in the way, wait for network idle and
  a quiet DOM (``SCRAPER_RENDER_SETTLE_MS``, 500 ms); rendered-settle-200: the same with 200 ms of quiet
  (the shortest that still waits out this app's 150 ms timer), to show what the settle wait costs;
- crawl: ``crawl(render="always")`` over the SPA from its home page, links found in the rendered DOM;
- dump-dom: ``chromium --headless --dump-dom --virtual-time-budget=2000`` per SPA route, a fresh browser
  each time (no proxy, no settle check: virtual time fast-forwards the timers);
- selenium: Selenium 4 driving the same Chromium through ``/usr/bin/chromedriver``; playwright: Playwright's
  Python package (its Node driver) launching the same Chromium (``executable_path``; the row is skipped if
  the package is not installed: ``pip install -r requirements-bench.txt``). Both: one browser per run
  started inside the clock, our guard proxy in the way with our flags (``chromium_flags`` minus what the
  driver owns: profile, debugging pipe), one tab navigated from route to route, the load event and then
  a wait for the route's marker text (the content wait these tools offer; it knows what to wait for,
  where ours waits for network idle and 500 ms of DOM quiet), then the page's HTML.

Every path must see each page's marker text, or its rate is not reported; "content waits timed out" counts,
over all runs, the pages where ours never settled or a driver's marker wait ran out (20 s). Memory: the browser
process group's peak PSS (summed over browser, zygotes, renderers; PSS because they share most pages),
sampled every 0.25 s for ours (the memory watchdog's own figure) and for the drivers (summed over every
descendant of this process: chromedriver or Node included), every 0.1 s for dump-dom.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

c.setup_django()

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from sources.scraping import DEFAULT_USER_AGENT, CrawlOptions, PageFetched, SafeFetcher, crawl, parse_html  # noqa: E402
from sources.scraping.chromium import chromium_flags, find_chromium, group_rss_bytes  # noqa: E402
from sources.scraping.guard_proxy import GuardProxy  # noqa: E402
from sources.scraping.render import RenderConfig, Renderer  # noqa: E402
from sources.scraping.urlsafety import is_public_address  # noqa: E402

HOST = "127.0.0.2"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
WAIT_SECONDS = 20
DRIVER_OWNED = ("--remote-debugging-pipe", "--user-data-dir=", "--disk-cache-dir=", "about:blank")
SHELL = (b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Loading</title></head><body><div id="root">'
         b'</div><noscript>Enable JavaScript.</noscript><script src="/app.js"></script></body></html>')
APP_JS = b"""
const xhr = new XMLHttpRequest();
xhr.open('GET', '/api/page?path=' + encodeURIComponent(location.pathname));
xhr.onload = function () {
  const page = JSON.parse(xhr.responseText);
  document.title = page.title;
  const main = document.createElement('main');
  main.innerHTML = '<h1></h1><p></p><nav></nav>';
  main.querySelector('h1').textContent = page.title;
  main.querySelector('p').textContent = page.text;
  page.links.forEach(function (href) { const a = document.createElement('a'); a.href = href; a.textContent = href;
                                       main.querySelector('nav').appendChild(a); });
  document.getElementById('root').appendChild(main);
};
setTimeout(function () { xhr.send(); }, 150);
"""


def build_pages(count: int) -> dict[str, dict]:
    words = " ".join(c._sentences())
    pages = {}
    for n in range(count):
        path = "/" if n == 0 else f"/page/{n}"
        links = [f"/page/{m}" for m in range(1, count)] if n == 0 else ["/"]
        text = f"MARKER-{n} " + words[n * 2000:(n + 1) * 2000]
        pages[path] = {"title": f"Page {n}", "text": text, "links": links, "marker": f"MARKER-{n}"}
    return pages


def serve(pages: dict[str, dict]) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/app.js":
                self._send(APP_JS, "application/javascript")
            elif parts.path == "/api/page":
                page = pages[parse_qs(parts.query)["path"][0]]
                self._send(json.dumps(page).encode(), "application/json")
            elif parts.path.startswith("/static"):
                page = pages[parts.path.removeprefix("/static") or "/"]
                body = (f"<html><head><title>{page['title']}</title></head><body><main><h1>{page['title']}</h1>"
                        f"<p>{page['text']}</p></main></body></html>").encode()
                self._send(body, "text/html; charset=utf-8")
            elif parts.path in pages:
                self._send(SHELL, "text/html; charset=utf-8")
            else:
                self._send(b"not found", "text/plain", 404)

        def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, int(server.server_address[1])


def policy(ip) -> bool:
    return ip in ipaddress.ip_network(f"{HOST}/32") or is_public_address(ip)


def render_config(chromium: str, settle_ms: int | None = None) -> RenderConfig:
    from django.conf import settings

    settle = settings.SCRAPER_RENDER_SETTLE_MS if settle_ms is None else settle_ms
    return RenderConfig(chromium=chromium, page_timeout=20, settle_ms=settle, is_public=policy, concurrency=64,
                        max_pages=10_000)


def run_static(base: str, pages: dict[str, dict]) -> dict:
    started = time.perf_counter()
    found = 0
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=policy) as fetcher:
        for path, page in pages.items():
            result = fetcher.fetch(f"{base}/static{path}")
            found += page["marker"] in parse_html(result.body, url=result.url, http_encoding=result.encoding).text
    return {"seconds": time.perf_counter() - started, "found": found}


def run_rendered(base: str, pages: dict[str, dict], chromium: str, settle_ms: int | None = None) -> dict:
    started = time.perf_counter()
    found = 0
    with Renderer(render_config(chromium, settle_ms)) as renderer:
        for path, page in pages.items():
            rendered = renderer.render(base + path)
            found += page["marker"] in parse_html(rendered.html.encode(), url=rendered.url,
                                                  http_encoding="utf-8").text
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "found": found, "peak_pss_mb": renderer.stats.peak_rss / c.MB,
            "unsettled": renderer.stats.unsettled}


def run_crawl(base: str, pages: dict[str, dict], chromium: str) -> dict:
    options = CrawlOptions(max_pages=len(pages), max_depth=2, render="always", delay=0, use_sitemap=False,
                           respect_robots=False)
    started = time.perf_counter()
    with Renderer(render_config(chromium)) as renderer, \
            SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=policy) as fetcher:
        texts = [e.content.text for e in crawl(base + "/", fetcher=fetcher, options=options, renderer=renderer)
                 if isinstance(e, PageFetched) and e.content is not None]
    found = sum(any(p["marker"] + " " in t for t in texts) for p in pages.values())
    return {"seconds": time.perf_counter() - started, "found": found}


def run_dump_dom(base: str, pages: dict[str, dict], chromium: str) -> dict:
    started = time.perf_counter()
    found = 0
    peak = 0
    for path, page in pages.items():
        with tempfile.TemporaryDirectory(prefix="bench-dumpdom-") as profile, \
                tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
                 "--virtual-time-budget=2000", "--dump-dom", base + path],
                stdout=out, stderr=subprocess.DEVNULL, start_new_session=True,
            )
            while proc.poll() is None:  # same memory measure as ours: PSS summed over the process group
                peak = max(peak, group_rss_bytes(proc.pid))
                time.sleep(0.1)
            out.seek(0)
            found += page["marker"].encode() in out.read()
    return {"seconds": time.perf_counter() - started, "found": found, "peak_pss_mb": peak / c.MB}


def driver_flags(proxy_port: int) -> list[str]:
    """Our browser flags (headless, guard proxy, host-resolver rules), minus what a driver sets itself."""
    return [f for f in chromium_flags(Path("/nonexistent"), proxy_port) if not f.startswith(DRIVER_OWNED)]


def tree_pss_bytes(root: int) -> tuple[int, int]:
    """PSS summed over every live descendant of ``root`` (a driver, its browser, zygotes, renderers), and
    over its direct children alone (the driver process: chromedriver or Playwright's Node)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()  # state ppid ...
                if fields[0] != b"Z":
                    children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    direct = set(children.get(root, []))
    total = driver = 0
    todo = list(direct)
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                pss = next((int(line.split()[1]) * 1024 for line in fh if line.startswith(b"Pss:")), 0)
        except (OSError, IndexError, ValueError):
            continue
        total += pss
        driver += pss if pid in direct else 0
    return total, driver


class TreePeak:
    """Peak PSS of this process's descendants, sampled every 0.25 s (as the renderer's watchdog samples)."""

    def __init__(self) -> None:
        self.peak = self.driver_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            total, driver = tree_pss_bytes(os.getpid())
            self.peak, self.driver_peak = max(self.peak, total), max(self.driver_peak, driver)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def guard_proxy() -> GuardProxy:
    return GuardProxy(allow_private=False, is_public=policy, connection_deadline=WAIT_SECONDS + 10)


def run_selenium(base: str, pages: dict[str, dict], chromium: str) -> dict:
    found = waited_out = 0
    with TreePeak() as memory:
        started = time.perf_counter()
        with guard_proxy() as proxy:
            options = webdriver.ChromeOptions()
            options.binary_location = chromium
            for flag in driver_flags(proxy.port):
                options.add_argument(flag)
            driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
            try:
                driver.set_page_load_timeout(WAIT_SECONDS)
                for path, page in pages.items():
                    driver.get(base + path)  # returns after the load event
                    try:  # polled every 50 ms (the default 0.5 s would cost ~0.25 s a page)
                        WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(
                            EC.text_to_be_present_in_element((By.TAG_NAME, "body"), page["marker"]))
                    except TimeoutException:
                        waited_out += 1
                    html = driver.page_source
                    found += page["marker"] in parse_html(html.encode(), url=driver.current_url,
                                                          http_encoding="utf-8").text
            finally:
                driver.quit()
        seconds = time.perf_counter() - started
    return _driver_result(seconds, found, waited_out, memory)


def _driver_result(seconds: float, found: int, waited_out: int, memory: TreePeak) -> dict:
    return {"seconds": seconds, "found": found, "peak_pss_mb": memory.peak / c.MB, "waited_out": waited_out,
            "driver_pss_mb": memory.driver_peak / c.MB}


def playwright_missing() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return True
    return False


def run_playwright(base: str, pages: dict[str, dict], chromium: str) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    found = waited_out = 0
    with TreePeak() as memory:
        started = time.perf_counter()
        with guard_proxy() as proxy, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=driver_flags(proxy.port))
            try:
                tab = browser.new_page()
                for path, page in pages.items():
                    tab.goto(base + path, timeout=WAIT_SECONDS * 1000)  # waits for the load event
                    try:
                        tab.get_by_text(page["marker"]).first.wait_for(timeout=WAIT_SECONDS * 1000)
                    except PlaywrightTimeout:
                        waited_out += 1
                    found += page["marker"] in parse_html(tab.content().encode(), url=tab.url,
                                                          http_encoding="utf-8").text
            finally:
                browser.close()
        seconds = time.perf_counter() - started
    return _driver_result(seconds, found, waited_out, memory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only these paths, comma-separated: "
                        "static,rendered,rendered-settle-200,crawl,dump-dom,selenium,playwright")
    args = parser.parse_args()
    chromium = find_chromium("chromium")
    if chromium is None:
        sys.exit("Chromium is not installed: apt-get install chromium")
    count = 5 if args.quick else args.pages
    pages = build_pages(count)
    server, port = serve(pages)
    base = f"http://{HOST}:{port}"
    paths = {"static": lambda: run_static(base, pages), "rendered": lambda: run_rendered(base, pages, chromium),
             "rendered-settle-200": lambda: run_rendered(base, pages, chromium, settle_ms=200),
             "crawl": lambda: run_crawl(base, pages, chromium), "dump-dom": lambda: run_dump_dom(base, pages, chromium),
             "selenium": lambda: run_selenium(base, pages, chromium),
             "playwright": lambda: run_playwright(base, pages, chromium)}
    skipped = {}
    if not os.access(CHROMEDRIVER, os.X_OK):
        skipped["selenium"] = f"{CHROMEDRIVER} missing (apt-get install chromium-driver)"
    if playwright_missing():
        skipped["playwright"] = "the playwright package is not installed (pip install -r requirements-bench.txt)"
    if args.only:
        wanted = set(args.only.split(","))
        paths = {name: run for name, run in paths.items() if name in wanted}
        skipped = {name: why for name, why in skipped.items() if name in wanted}
    for name, why in skipped.items():
        print(f"{name}: skipped, {why}", file=sys.stderr)
        del paths[name]
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every path alike
        for name, run in paths.items():
            runs[name].append(run())
    server.shutdown()

    rates: dict[str, float | None] = dict.fromkeys(skipped)
    rows = []
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        complete = all(r["found"] == count for r in results)
        rates[name] = count / seconds if complete else None
        pss = statistics.median(r["peak_pss_mb"] for r in results) if "peak_pss_mb" in results[0] else None
        timeouts = [r[k] for r in results for k in ("unsettled", "waited_out") if k in r]
        rows.append([name, f"{rates[name]:.2f}" if rates[name] else "incomplete", seconds,
                     f"{min(r['found'] for r in results)}/{count}", f"{pss:.0f}" if pss else "",
                     sum(timeouts) if timeouts else ""])
    rows += [[name, "skipped", "", "", why, ""] for name, why in skipped.items()]
    drivers = {name: statistics.median(r["driver_pss_mb"] for r in runs[name]) for name in ("selenium", "playwright")
               if name in runs}
    print(f"\n{count} pages, median of {args.repeat}, {c.machine()}\n")
    c.print_table(["path", "pages/s", "seconds", "marker found", "browser group peak PSS MB",
                   "content waits timed out"], rows)
    for name, pss in drivers.items():
        print(f"{name}: driver process alone (chromedriver or Node) peaked at {pss:.0f} MB PSS (counted in the row)")

    def vs(other: str) -> float | None:
        ours, theirs = rates.get("rendered"), rates.get(other)
        return round(ours / theirs, 3) if ours and theirs else None

    ratio = vs("dump-dom")

    c.print_result(
        "rendered pages/s vs bare chromium --dump-dom per page, Selenium and Playwright",
        {"rendered_vs_dump_dom": ratio, "rendered_vs_static": vs("static"),
         "rendered_vs_selenium": vs("selenium"), "rendered_vs_playwright": vs("playwright")},
        rates={k: round(v, 2) if v else None for k, v in rates.items()},
        targets={"rendered_vs_dump_dom>=0.7": c.verdict(ratio, 0.7)},
    )


if __name__ == "__main__":
    main()
