"""HTML and XHTML files: the crawler's main-content extraction (sources/scraping/html.py) applied to a file."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import IO

from bs4 import XMLParsedAsHTMLWarning

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.scraping.html import parse_html


class HtmlExtractor:
    """Navigation, banners and hidden blocks are dropped as for a crawled page; headings give the path.

    The whole file is parsed at once (BeautifulSoup over lxml's HTML parser, which never loads
    DTDs or external entities); the upload size limit and the sandbox bound its memory.
    """

    kind = "html"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        body = stream.read(limits.max_uncompressed_bytes + 1)
        if len(body) > limits.max_uncompressed_bytes:
            raise ProcessingError(ErrorCode.TOO_LARGE, "This web page is larger than the allowed maximum.")
        stats.engine, stats.unit_name = "lxml", "sections"
        yield from html_segments(body, limits, stats, CharBudget(limits, stats))
        if progress:
            progress(stats)
        if not stats.units_with_text:
            raise ProcessingError(ErrorCode.EMPTY, "This web page contains no readable text.")


def html_segments(
    body: bytes, limits: ExtractionLimits, stats: ExtractionStats, budget: CharBudget,
    *, path_prefix: list[str] | None = None, extra: dict[str, object] | None = None,
) -> Iterator[Segment]:
    """Main-content segments of one HTML document; also used for e-book chapters and HTML mail."""
    with warnings.catch_warnings():
        # XHTML (e-book chapters, .xhtml files) is read by the forgiving HTML parser on purpose:
        # it never loads DTDs or entities, and it reads malformed markup an XML parser rejects.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        page = parse_html(body, url="", http_encoding=None)
    prefix = path_prefix or []
    for segment in page.segments:
        path = list(segment.metadata.get("heading_path") or [])
        if prefix and path and path[0] == prefix[-1]:
            path = path[1:]  # a chapter's own <h1> repeats its table-of-contents title
        meta: dict[str, object] = {"heading_path": prefix + path, **(extra or {})}
        if page.title and not extra:
            meta["title"] = page.title
        stats.units_done += 1
        stats.units_with_text += 1
        yield Segment(budget.take(segment.text), meta, segment.boundary)
        if budget.exhausted:
            return
