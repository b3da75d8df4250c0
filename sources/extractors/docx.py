"""DOCX text extraction: body paragraphs and tables in order, with heading paths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.ooxml import check_zip, parse_small_part, refuse_doctype, safe_parser_options
from sources.extractors.sections import table_records

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
W_P, W_TBL, W_TR, W_TC, W_T = f"{W}p", f"{W}tbl", f"{W}tr", f"{W}tc", f"{W}t"
W_TAB, W_BR, W_CR, W_PPR, W_PSTYLE, W_OUTLINE = (
    f"{W}tab", f"{W}br", f"{W}cr", f"{W}pPr", f"{W}pStyle", f"{W}outlineLvl",
)
W_NBHYPHEN, W_DEL, W_MOVEFROM, W_VAL = f"{W}noBreakHyphen", f"{W}del", f"{W}moveFrom", f"{W}val"
_TEXT_TAGS = (W_T, W_TAB, W_BR, W_CR, W_NBHYPHEN)
_SKIPPED_PARENTS = (W_DEL, W_MOVEFROM)
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)

PARAGRAPHS_PER_SEGMENT = 50
CHARS_PER_SEGMENT = 4000
PROGRESS_EVERY = 500


class DocxExtractor:
    """Streams ``word/document.xml`` with lxml ``iterparse``.

    python-docx builds the whole object tree and is about a hundred times slower; iterparse
    with a tag filter touches only paragraphs and tables and frees each one once emitted.
    Headers, footers, footnotes and comments are not extracted.
    """

    kind = "docx"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        archive = check_zip(stream, limits, "word/document.xml")
        stats.engine = "lxml"
        stats.unit_name = "paragraphs"
        try:
            heading_levels = _heading_styles(archive)
            with archive.open("word/document.xml") as part:
                head = part.read(4096)
            refuse_doctype(head)
            with archive.open("word/document.xml") as part:
                yield from _walk(part, heading_levels, limits, stats, progress)
        except (etree.XMLSyntaxError, OSError, EOFError) as exc:
            raise ProcessingError(ErrorCode.CORRUPT, "This Word document is damaged (invalid XML).") from exc
        finally:
            archive.close()


def _heading_styles(archive: Any) -> dict[str, int]:
    """Map paragraph style ids to heading levels: "Title" is 0, "Heading N" is N."""
    root = parse_small_part(archive, "word/styles.xml")
    levels: dict[str, int] = {}
    if root is None:
        return levels
    for style in root.iter(f"{W}style"):
        if style.get(f"{W}type") != "paragraph":
            continue
        style_id = style.get(f"{W}styleId")
        name_el = style.find(f"{W}name")
        name = (name_el.get(W_VAL) if name_el is not None else "") or ""
        match = _HEADING_NAME.match(name.strip())
        if match:
            levels[style_id] = int(match.group(1))
        elif name.strip().lower() == "title":
            levels[style_id] = 0
        else:
            outline = style.find(f"{W_PPR}/{W_OUTLINE}")
            if outline is not None and (outline.get(W_VAL) or "").isdigit() and int(outline.get(W_VAL)) < 9:
                levels[style_id] = int(outline.get(W_VAL)) + 1
    return levels


def _paragraph_text(p: Any) -> str:
    parts = []
    for el in p.iter(_TEXT_TAGS):
        tag = el.tag
        if tag == W_T:
            run = el.getparent()
            if run is not None and run.getparent() is not None and run.getparent().tag in _SKIPPED_PARENTS:
                continue
            if el.text:
                parts.append(el.text)
        elif tag == W_TAB:
            if el.getparent() is not None and el.getparent().tag != f"{W}tabs":
                parts.append("\t")
        elif tag == W_NBHYPHEN:
            parts.append("-")
        else:
            parts.append("\n")
    return "".join(parts)


def _heading_level(p: Any, levels: dict[str, int]) -> int | None:
    ppr = p.find(W_PPR)
    if ppr is None:
        return None
    outline = ppr.find(W_OUTLINE)
    if outline is not None and (outline.get(W_VAL) or "").isdigit() and int(outline.get(W_VAL)) < 9:
        return int(outline.get(W_VAL)) + 1
    style = ppr.find(W_PSTYLE)
    if style is not None:
        return levels.get(style.get(W_VAL))
    return None


def _cell_text(tc: Any) -> str:
    texts = (_paragraph_text(p).strip() for p in tc.iter(W_P))
    return " ".join(" ".join(t.split()) for t in texts if t)


def _table_lines(tbl: Any) -> list[str]:
    return table_records([[_cell_text(tc) for tc in tr.iterchildren(W_TC)] for tr in tbl.iterchildren(W_TR)])


def _walk(
    part: IO[bytes],
    levels: dict[str, int],
    limits: ExtractionLimits,
    stats: ExtractionStats,
    progress: ProgressCallback | None,
) -> Iterator[Segment]:
    budget = CharBudget(limits, stats)
    path: list[tuple[int, str]] = []
    block: list[str] = []
    block_chars = 0
    boundary = False
    p_depth = tbl_depth = 0

    def flush() -> Segment | None:
        nonlocal block, block_chars, boundary
        text = "\n\n".join(block)
        block, block_chars = [], 0
        if not text.strip():
            return None
        text = budget.take(text)
        segment = Segment(text, {"heading_path": [name for _, name in path]}, boundary)
        boundary = False
        return segment

    context = etree.iterparse(part, events=("start", "end"), tag=(W_P, W_TBL), **safe_parser_options())
    for event, el in context:
        if event == "start":
            if el.tag == W_P:
                p_depth += 1
            else:
                tbl_depth += 1
            continue
        if el.tag == W_P:
            p_depth -= 1
            if p_depth or tbl_depth:
                continue  # part of a table cell or a text box: rendered by its container
            level = _heading_level(el, levels)
            text = _paragraph_text(el).strip()
            stats.units_done += 1
            if text:
                stats.units_with_text += 1
                if level is not None:
                    segment = flush()
                    if segment:
                        yield segment
                    while path and path[-1][0] >= level:
                        path.pop()
                    path.append((level, " ".join(text.split())))
                    boundary = True
                block.append(text)
                block_chars += len(text) + 2
            if stats.units_done % PROGRESS_EVERY == 0 and progress:
                progress(stats)
        else:
            tbl_depth -= 1
            if tbl_depth:
                continue
            for line in _table_lines(el):
                block.append(line)
                block_chars += len(line) + 2
                if block_chars >= CHARS_PER_SEGMENT:
                    segment = flush()
                    if segment:
                        yield segment
        if budget.exhausted:
            return
        if len(block) >= PARAGRAPHS_PER_SEGMENT or block_chars >= CHARS_PER_SEGMENT:
            segment = flush()
            if segment:
                yield segment
            if budget.exhausted:
                return
        # Free what has been read: this element and its already-processed siblings.
        el.clear(keep_tail=False)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]
    segment = flush()
    if segment:
        yield segment
    if progress:
        progress(stats)
    if stats.units_with_text == 0:
        raise ProcessingError(ErrorCode.EMPTY, "This Word document contains no text.")
