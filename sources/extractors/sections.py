"""Shared segment loop of the document formats: text blocks under a heading path, tables as records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, truncate_notice
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment

T = TypeVar("T")

BLOCKS_PER_SEGMENT = 50
CHARS_PER_SEGMENT = 4000


class SectionBuilder:
    """Collects paragraphs under the current heading path and cuts them into segments.

    A heading, or a new unit (slide, chapter, message) set with ``start``, ends the current
    segment and asks the chunker for a boundary; long sections are cut at a size. Every
    method returns the segments it finished, so callers ``yield from`` it.
    """

    def __init__(self, budget: CharBudget) -> None:
        self.budget = budget
        self.path: list[tuple[int, str]] = []
        self.meta: dict[str, Any] = {}
        self.blocks: list[str] = []
        self.chars = 0
        self.boundary = True
        self.emitted = 0

    @property
    def exhausted(self) -> bool:
        return self.budget.exhausted

    def start(self, meta: dict[str, Any], *, keep_path: bool = False) -> list[Segment]:
        """Begin a new unit with its own metadata (``{"slide": 3}``, ``{"chapter": ...}``)."""
        done = self.flush()
        self.meta = dict(meta)
        if not keep_path:
            self.path = []
        self.boundary = True
        return done

    def heading(self, level: int, title: str) -> list[Segment]:
        title = " ".join(title.split())
        done = self.flush()
        if not title:
            return done
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, title)]
        self.boundary = True
        self.blocks.append(title)
        self.chars += len(title) + 2
        return done

    def add(self, text: str) -> list[Segment]:
        text = text.strip()
        if not text:
            return []
        self.blocks.append(text)
        self.chars += len(text) + 2
        if len(self.blocks) >= BLOCKS_PER_SEGMENT or self.chars >= CHARS_PER_SEGMENT:
            return self.flush()
        return []

    def add_lines(self, lines: Sequence[str]) -> list[Segment]:
        done: list[Segment] = []
        for line in lines:
            done.extend(self.add(line))
        return done

    def flush(self) -> list[Segment]:
        text = "\n\n".join(self.blocks)
        self.blocks, self.chars = [], 0
        if not text.strip() or self.budget.exhausted:
            return []
        segment = Segment(
            self.budget.take(text), {**self.meta, "heading_path": [t for _, t in self.path]}, self.boundary
        )
        self.boundary = False
        self.emitted += 1
        return [segment]


def table_records(rows: Sequence[Sequence[str]]) -> list[str]:
    """A table as records: the first row is the header, each later row ``Header: value; ...``.

    Shared by DOCX, ODT, slides and e-books: a row that names its columns stays meaningful in
    any chunk it lands in.
    """
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    if len(rows) == 1:
        return [" | ".join(cell for cell in rows[0] if cell)]
    header = rows[0]
    lines = []
    for row in rows[1:]:
        pairs = []
        for i, cell in enumerate(row):
            if not cell:
                continue
            name = header[i] if i < len(header) and header[i] else ""
            pairs.append(f"{name}: {cell}" if name else cell)
        if pairs:
            lines.append("; ".join(pairs))
    return lines


def slide_segments(
    builder: SectionBuilder, number: int, title: str, blocks: Sequence[str], notes: str
) -> list[Segment]:
    """One slide: its title as the heading, text frames in reading order, then the speaker notes."""
    done = builder.start({"slide": number})
    if title:
        done.extend(builder.heading(1, title))
    done.extend(builder.add_lines(blocks))
    if notes.strip():
        done.extend(builder.add(f"Speaker notes: {notes.strip()}"))
    done.extend(builder.flush())
    return done


def cap_units(items: list[T], limits: ExtractionLimits, stats: ExtractionStats, what: str, unit: str) -> list[T]:
    """Refuse (or truncate to) ``limits.max_pages`` slides, chapters or messages; sets ``units_total``."""
    if len(items) > limits.max_pages:
        if not limits.truncate:
            raise ProcessingError(
                ErrorCode.TOO_LARGE, f"{what} has {len(items)} {unit}; the maximum is {limits.max_pages}."
            )
        truncate_notice(stats, f"Only the first {limits.max_pages} of {len(items)} {unit} were imported.")
        items = items[: limits.max_pages]
    stats.units_total = len(items)
    return items
