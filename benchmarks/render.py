"""Figure: rendered pages/s and browser memory per page, against the static path on the same site and
against a bare ``chromium --headless --dump-dom`` run per page (goal: ours >= 0.7x of it).

Usage: ``python benchmarks/render.py [--quick] [--pages 20] [--repeat 3]``. A local site on 127.0.0.2
serves N single-page-app routes (an empty shell; the script fetches the route's ~2 KB of prose by XHR
after 150 ms and writes it) and the same N pages server-rendered. Measured, median of ``--repeat``:

- static: ``SafeFetcher.fetch`` + ``parse_html`` of the server-rendered pages (the crawler's fast path);
- rendered: ``Renderer.render`` + ``parse_html`` of the SPA routes: one browser per run (started inside
  the clock, as a crawl does), a new tab per page, the guard proxy in the way, wait for network idle and
  a quiet DOM (``SCRAPER_RENDER_SETTLE_MS``, 500 ms);
- crawl: ``crawl(render="always")`` over the SPA from its home page, links found in the rendered DOM;
- dump-dom: ``chromium --headless --dump-dom --virtual-time-budget=2000`` per SPA route, a fresh browser
  each time (no proxy, no settle check: virtual time fast-forwards the timers).

Every path must see each page's marker text, or its rate is not reported. Memory: the browser
process group's peak PSS (summed over browser, zygotes, renderers; PSS because they share most pages),
sampled every 0.25 s for ours (the memory watchdog's own figure) and every 0.1 s for dump-dom.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
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

from sources.scraping import DEFAULT_USER_AGENT, CrawlOptions, PageFetched, SafeFetcher, crawl, parse_html  # noqa: E402
from sources.scraping.chromium import find_chromium, group_rss_bytes  # noqa: E402
from sources.scraping.render import RenderConfig, Renderer  # noqa: E402
from sources.scraping.urlsafety import is_public_address  # noqa: E402

HOST = "127.0.0.2"
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


def render_config(chromium: str) -> RenderConfig:
    from django.conf import settings

    return RenderConfig(chromium=chromium, page_timeout=20, settle_ms=settings.SCRAPER_RENDER_SETTLE_MS,
                        is_public=policy, concurrency=64, max_pages=10_000)


def run_static(base: str, pages: dict[str, dict]) -> dict:
    started = time.perf_counter()
    found = 0
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=policy) as fetcher:
        for path, page in pages.items():
            result = fetcher.fetch(f"{base}/static{path}")
            found += page["marker"] in parse_html(result.body, url=result.url, http_encoding=result.encoding).text
    return {"seconds": time.perf_counter() - started, "found": found}


def run_rendered(base: str, pages: dict[str, dict], chromium: str) -> dict:
    started = time.perf_counter()
    found = 0
    with Renderer(render_config(chromium)) as renderer:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chromium = find_chromium("chromium")
    if chromium is None:
        sys.exit("Chromium is not installed: apt-get install chromium")
    count = 5 if args.quick else args.pages
    pages = build_pages(count)
    server, port = serve(pages)
    base = f"http://{HOST}:{port}"
    runs: dict[str, list[dict]] = {"static": [], "rendered": [], "crawl": [], "dump-dom": []}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every path alike
        runs["static"].append(run_static(base, pages))
        runs["rendered"].append(run_rendered(base, pages, chromium))
        runs["crawl"].append(run_crawl(base, pages, chromium))
        runs["dump-dom"].append(run_dump_dom(base, pages, chromium))
    server.shutdown()

    rates: dict[str, float | None] = {}
    rows = []
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        complete = all(r["found"] == count for r in results)
        rates[name] = count / seconds if complete else None
        pss = statistics.median(r["peak_pss_mb"] for r in results) if "peak_pss_mb" in results[0] else None
        rows.append([name, f"{rates[name]:.2f}" if rates[name] else "incomplete", seconds,
                     f"{min(r['found'] for r in results)}/{count}", f"{pss:.0f}" if pss else ""])
    print(f"\n{count} pages, median of {args.repeat}, {c.machine()}\n")
    c.print_table(["path", "pages/s", "seconds", "marker found", "browser group peak PSS MB"], rows)
    ratio = rates["rendered"] / rates["dump-dom"] if rates["rendered"] and rates["dump-dom"] else None
    c.print_result(
        "rendered pages/s vs bare chromium --dump-dom per page",
        {"rendered_vs_dump_dom": round(ratio, 2) if ratio else None,
         "rendered_vs_static": round(rates["rendered"] / rates["static"], 3)
         if rates["rendered"] and rates["static"] else None},
        rates={k: round(v, 2) if v else None for k, v in rates.items()},
        targets={"rendered_vs_dump_dom>=0.7": c.verdict(ratio, 0.7)},
    )


if __name__ == "__main__":
    main()
