"""Plain text and Markdown extraction with encoding detection and heading tracking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind, wrap_text
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.encoding import SAMPLE_SIZE, detect_encoding

LINE_CAP = 64 * 1024  # a "line" longer than this is read in pieces, keeping memory bounded
SEGMENT_CHARS = 4000
PROGRESS_EVERY = 1000
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class TxtExtractor:
    """Segments split at blank lines once about ``SEGMENT_CHARS`` have accumulated.

    With ``markdown=True``, ATX headings ("# Title") outside fenced code start a new segment
    (``boundary=True``) and feed ``heading_path``.
    """

    kind = "txt"

    def __init__(self, markdown: bool = False) -> None:
        self.markdown = markdown

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        sample = stream.read(SAMPLE_SIZE) or b""
        encoding = detect_encoding(sample, complete=len(sample) < SAMPLE_SIZE)
        stats.engine = f"text ({encoding})"
        stats.unit_name = "lines"
        stream.seek(0)
        text = wrap_text(stream, encoding, newline=None)
        try:
            yield from self._segments(text, limits, stats, progress)
        finally:
            text.detach()

    def _segments(
        self,
        text: IO[str],
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None,
    ) -> Iterator[Segment]:
        budget = CharBudget(limits, stats)
        path: list[tuple[int, str]] = []
        lines: list[str] = []
        chars = 0
        boundary = False
        fence: str | None = None
        any_text = False
        carry = ""

        def flush() -> Segment | None:
            nonlocal lines, chars, boundary
            body = "".join(lines).strip()
            lines, chars = [], 0
            if not body.strip():
                return None
            meta = {"heading_path": [name for _, name in path]} if self.markdown else {}
            segment = Segment(budget.take(body), meta, boundary)
            boundary = False
            return segment

        while True:
            line = carry + text.readline(LINE_CAP)
            carry = ""
            if not line:
                break
            if len(line) >= LINE_CAP and not line.endswith("\n"):
                # A piece of a very long line: keep a partial word for the next piece.
                cut = max(line.rfind(" "), line.rfind("\t"))
                if cut > 0:
                    line, carry = line[: cut + 1], line[cut + 1 :]
            stats.units_done += 1
            blank = not line.strip()
            if not blank:
                any_text = True
                stats.units_with_text += 1
            if self.markdown:
                fence_match = _FENCE.match(line)
                if fence_match:
                    marker = fence_match.group(1)[0]
                    fence = None if fence == marker else (fence or marker)
                heading = None if fence or fence_match else _ATX_HEADING.match(line)
                if heading:
                    segment = flush()
                    if segment:
                        yield segment
                    level = len(heading.group(1))
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, heading.group(2).strip()))
                    boundary = True
            lines.append(line)
            chars += len(line)
            if (blank and chars >= SEGMENT_CHARS) or chars >= 2 * SEGMENT_CHARS:
                segment = flush()
                if segment:
                    yield segment
            if budget.exhausted:
                return
            if progress and stats.units_done % PROGRESS_EVERY == 0:
                progress(stats)
        segment = flush()
        if segment:
            yield segment
        if progress:
            progress(stats)
        if not any_text:
            raise ProcessingError(ErrorCode.EMPTY, "The file is empty.")
