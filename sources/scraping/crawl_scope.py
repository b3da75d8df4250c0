"""Which URLs a crawl visits: the dedupe key, the site a URL belongs to, include/exclude patterns,
and the file extensions never worth a request."""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from botsmith.errors import ProcessingError
from sources.scraping.urlsafety import normalize_url

# Never worth a request: the crawler only reads HTML, plain text and PDF.
SKIP_EXTENSIONS = frozenset(
    [
        ".zip",
        ".gz",
        ".tgz",
        ".tar",
        ".rar",
        ".7z",
        ".bz2",
        ".xz",
        ".exe",
        ".msi",
        ".dmg",
        ".iso",
        ".apk",
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".webp",
        ".svg",
        ".ico",
        ".bmp",
        ".tif",
        ".tiff",
        ".avif",
        ".mp3",
        ".mp4",
        ".m4a",
        ".avi",
        ".mov",
        ".wmv",
        ".webm",
        ".mkv",
        ".ogg",
        ".wav",
        ".flac",
        ".css",
        ".js",
        ".mjs",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".ods",
        ".rss",
        ".atom",
    ]
)
_TRACKING_PARAM_RE = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_eid|mc_cid)$", re.IGNORECASE)


def url_key(url: str) -> str | None:
    """Dedupe key: lower-case scheme/host, no default port, no tracking parameters, no fragment except a
    hash route (``#/docs``, ``#!/docs``): in a client-side app that names another page."""
    try:
        normalised, _, _, _ = normalize_url(url)
    except ProcessingError:
        return None
    fragment = url.partition("#")[2] if "#" in url else ""
    route = fragment if fragment.startswith(("/", "!/")) and len(fragment) > 1 else ""
    parts = urlsplit(normalised)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _TRACKING_PARAM_RE.match(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, route))


def site_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def pattern_matches(pattern: str, url: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], url) is not None
    if pattern.startswith(("http://", "https://")):
        return fnmatch.fnmatchcase(url, pattern)
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return fnmatch.fnmatchcase(target, pattern)
