"""Parse sitemaps (XML, sitemap indexes, gzip, plain text) without trusting their XML."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lxml import etree

from botsmith.errors import ErrorCode, ProcessingError

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, uncompressed
MAX_SITEMAP_URLS = 50_000


@dataclass(slots=True)
class Sitemap:
    urls: list[tuple[str, datetime | None]] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # children of a sitemap index


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    data = decompressor.decompress(body, max_bytes + 1)
    if len(data) > max_bytes or decompressor.unconsumed_tail:
        raise ProcessingError(ErrorCode.TOO_LARGE, "The sitemap is larger than allowed once uncompressed.")
    return data


def parse_lastmod(value: str | None) -> datetime | None:
    """W3C datetime (a date, or a date and time with zone); naive times are taken as UTC."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_sitemap(body: bytes, *, max_bytes: int = MAX_SITEMAP_BYTES, max_urls: int = MAX_SITEMAP_URLS) -> Sitemap:
    """Entries of one sitemap file; entity expansion, DTDs and network access are all off."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, max_bytes)
    if len(body) > max_bytes:
        raise ProcessingError(ErrorCode.TOO_LARGE, "The sitemap is larger than allowed.")
    result = Sitemap()
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        # sitemaps.org also allows a plain list of URLs, one per line.
        for line in stripped.decode("utf-8", errors="replace").splitlines():
            line = line.strip()
            if line.startswith(("http://", "https://")) and len(result.urls) < max_urls:
                result.urls.append((line, None))
        return result
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, recover=True, remove_comments=True, remove_pis=True,
    )  # fmt: skip
    try:
        root = etree.fromstring(stripped, parser=parser)
    except etree.XMLSyntaxError:
        raise ProcessingError(ErrorCode.CORRUPT, "The sitemap is not valid XML.") from None
    if root is None:
        raise ProcessingError(ErrorCode.CORRUPT, "The sitemap is not valid XML.")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name not in ("url", "sitemap"):
            continue
        loc = lastmod = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            child_name = etree.QName(child).localname
            if child_name == "loc":
                loc = (child.text or "").strip()
            elif child_name == "lastmod":
                lastmod = child.text
        if not loc or not loc.startswith(("http://", "https://")):
            continue
        if name == "sitemap":
            result.sitemaps.append(loc)
        elif len(result.urls) < max_urls:
            result.urls.append((loc, parse_lastmod(lastmod)))
    return result


def collect_sitemap_urls(
    sitemap_urls: list[str],
    fetch_body: Callable[[str], bytes | None],
    *,
    max_urls: int = 10_000,
    max_files: int = 20,
    max_bytes: int = MAX_SITEMAP_BYTES,
) -> list[tuple[str, datetime | None]]:
    """Walk sitemap indexes breadth-first; ``fetch_body`` returns None when a file is unavailable.

    Bad or missing sitemaps are ignored: they only seed the crawl, links still work without them.
    """
    queue = list(dict.fromkeys(sitemap_urls))
    visited: set[str] = set()
    entries: dict[str, datetime | None] = {}
    while queue and len(visited) < max_files and len(entries) < max_urls:
        url = queue.pop(0)
        if url in visited:
            continue
        visited.add(url)
        body = fetch_body(url)
        if not body:
            continue
        try:
            parsed = parse_sitemap(body, max_bytes=max_bytes, max_urls=max_urls)
        except ProcessingError:
            continue
        queue.extend(child for child in parsed.sitemaps if child not in visited)
        for loc, lastmod in parsed.urls:
            if len(entries) >= max_urls:
                break
            entries.setdefault(loc, lastmod)
    return list(entries.items())
