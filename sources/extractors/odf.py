"""OpenDocument text (ODT) and presentations (ODP): the DOCX and PPTX treatment for LibreOffice files."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO, Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.ooxml import check_zip, parse_small_part, refuse_doctype
from sources.extractors.sections import SectionBuilder, cap_units, slide_segments, table_records

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
PRES = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
SVG = "{urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0}"
MIMETYPES = {
    "odt": "application/vnd.oasis.opendocument.text",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}
# Skipped subtrees: footnote bodies and comments would interrupt the sentence they sit in;
# a generated table of contents repeats the headings.
_SKIPPED = {f"{TEXT}note", f"{OFFICE}annotation", f"{TEXT}tracked-changes", f"{TEXT}table-of-contents",
            f"{TEXT}sequence-decls", f"{OFFICE}forms", f"{TEXT}alphabetical-index"}  # fmt: skip
MAX_REPEAT = 100  # table:number-columns-repeated="16384" is normal for a trailing empty cell


def open_odf(stream: IO[bytes], limits: ExtractionLimits, kind: str) -> zipfile.ZipFile:
    """Bomb-checked archive of the expected OpenDocument kind; refuses encrypted files."""
    label = {"odt": "OpenDocument text", "odp": "OpenDocument presentation", "ods": "OpenDocument spreadsheet"}[kind]
    archive = check_zip(stream, limits, "content.xml", label=label)
    try:
        names = set(archive.namelist())
        mimetype = archive.read("mimetype").decode("ascii", "replace").strip() if "mimetype" in names else ""
        manifest = archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
        with archive.open("content.xml") as part:
            head = part.read(4096)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        archive.close()
        raise ProcessingError(ErrorCode.CORRUPT, f"This {label} is damaged.") from exc
    try:
        refuse_doctype(head)  # also for ODS, which calamine parses on its own
    except ProcessingError:
        archive.close()
        raise
    if b"encryption-data" in manifest:
        archive.close()
        raise ProcessingError(ErrorCode.ENCRYPTED, f"This {label} is password-protected. Remove the password "
                              "and upload it again.")
    actual = next((k for k, m in MIMETYPES.items() if mimetype.startswith(m)), None)
    if mimetype and actual != kind and not mimetype.startswith(MIMETYPES[kind]):
        archive.close()
        hint = f" It looks like an .{actual} file; please rename it." if actual else ""
        raise ProcessingError(ErrorCode.CORRUPT, f"This file is not a valid {label}.{hint}")
    return archive


def node_text(el: Any) -> str:
    """Text of a paragraph-like element: spans, links, spaces (``text:s``), tabs, line breaks."""
    parts: list[str] = [el.text or ""]
    for child in el:
        tag = child.tag
        if tag == f"{TEXT}s":
            count = child.get(f"{TEXT}c") or "1"
            parts.append(" " * min(int(count) if count.isdigit() else 1, 100))
        elif tag == f"{TEXT}tab":
            parts.append("\t")
        elif tag == f"{TEXT}line-break":
            parts.append("\n")
        elif tag not in _SKIPPED and isinstance(tag, str):
            parts.append(node_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def table_lines(table: Any) -> list[str]:
    rows = []
    for row in table.iter(f"{TABLE}table-row"):
        cells: list[str] = []
        for cell in row.iterchildren(f"{TABLE}table-cell", f"{TABLE}covered-table-cell"):
            text = " ".join(node_text(p).strip() for p in cell.iter(f"{TEXT}p", f"{TEXT}h"))
            repeat = cell.get(f"{TABLE}number-columns-repeated") or "1"
            cells.extend([text] * (min(int(repeat), MAX_REPEAT) if repeat.isdigit() and text else 1))
        rows.append(cells)
    return table_records(rows)


def list_lines(lst: Any, depth: int = 0) -> list[str]:
    lines = []
    for item in lst.iterchildren(f"{TEXT}list-item", f"{TEXT}list-header"):
        for child in item:
            if child.tag == f"{TEXT}list":
                lines.extend(list_lines(child, depth + 1))
            elif child.tag in (f"{TEXT}p", f"{TEXT}h") and (text := " ".join(node_text(child).split())):
                lines.append(f"{'  ' * depth}- {text}")
    return lines


def _content(archive: zipfile.ZipFile, label: str) -> Any:
    root = parse_small_part(archive, "content.xml")
    body = root.find(f"{OFFICE}body") if root is not None else None
    if body is None:
        raise ProcessingError(ErrorCode.CORRUPT, f"This {label} is damaged (no document body).")
    return body


class OdtExtractor:
    kind = "odt"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        archive = open_odf(stream, limits, "odt")
        stats.engine, stats.unit_name = "lxml", "paragraphs"
        try:
            body = _content(archive, "OpenDocument text").find(f"{OFFICE}text")
        finally:
            archive.close()
        builder = SectionBuilder(CharBudget(limits, stats))
        if body is not None:
            for segment in _walk_text(body, builder, stats, progress):
                yield segment
                if builder.exhausted:
                    return
        yield from builder.flush()
        if not builder.emitted:
            raise ProcessingError(ErrorCode.EMPTY, "This document contains no text.")


def _walk_text(
    node: Any, builder: SectionBuilder, stats: ExtractionStats, progress: ProgressCallback | None
) -> Iterator[Segment]:
    for child in node:
        tag = child.tag
        if tag == f"{TEXT}h":
            level = child.get(f"{TEXT}outline-level") or "1"
            stats.units_done += 1
            yield from builder.heading(int(level) if level.isdigit() else 1, node_text(child))
        elif tag == f"{TEXT}p":
            stats.units_done += 1
            text = node_text(child).strip()
            if text:
                stats.units_with_text += 1
                yield from builder.add(text)
        elif tag == f"{TEXT}list":
            yield from builder.add("\n".join(list_lines(child)))
        elif tag == f"{TABLE}table":
            yield from builder.add("\n".join(table_lines(child)))
        elif tag in _SKIPPED or not isinstance(tag, str):
            continue
        else:  # sections, frames anchored in the text, index bodies: walk into them in order
            yield from _walk_text(child, builder, stats, progress)
        if progress and stats.units_done and stats.units_done % 500 == 0:
            progress(stats)


class OdpExtractor:
    kind = "odp"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        archive = open_odf(stream, limits, "odp")
        stats.engine, stats.unit_name = "lxml", "slides"
        try:
            body = _content(archive, "OpenDocument presentation").find(f"{OFFICE}presentation")
        finally:
            archive.close()
        pages = cap_units(list(body.iterchildren(f"{DRAW}page")) if body is not None else [], limits, stats,
                          "This presentation", "slides")
        builder = SectionBuilder(CharBudget(limits, stats))
        for number, page in enumerate(pages, start=1):
            title, blocks = "", []
            for kind, text in _draw_items(page):
                if kind == "title" and not title:
                    title = " ".join(text.split())
                else:
                    blocks.append(text)
            notes_el = page.find(f"{PRES}notes")
            notes = "\n".join(t for _, t in _draw_items(notes_el)) if notes_el is not None else ""
            stats.units_done = number
            if title or blocks or notes:
                stats.units_with_text += 1
            yield from slide_segments(builder, number, title, blocks, notes)
            if builder.exhausted:
                break
            if progress:
                progress(stats)
        if not builder.emitted:
            raise ProcessingError(ErrorCode.EMPTY, "This presentation contains no text.")


def _length(value: str | None) -> float:
    """svg:x / svg:y in any unit, as a sortable number (cm, mm, in, pt all scale alike enough)."""
    if not value:
        return 0.0
    units = {"cm": 10.0, "mm": 1.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6, "px": 25.4 / 96}
    for unit, factor in units.items():
        if value.endswith(unit):
            try:
                return float(value[: -len(unit)]) * factor
            except ValueError:
                return 0.0
    return 0.0


def _draw_items(node: Any) -> list[tuple[str, str]]:
    """``(kind, text)`` of frames, shapes, groups and tables, title first, then top-to-bottom, left-to-right."""
    placed: list[tuple[tuple[float, float], int, list[tuple[str, str]]]] = []
    for index, child in enumerate(node):
        tag = child.tag
        if tag == f"{DRAW}g":
            items = _draw_items(child)
            pos = min(((_length(c.get(f"{SVG}y")), _length(c.get(f"{SVG}x"))) for c in child.iter()
                       if c.get(f"{SVG}y") is not None), default=(0.0, 0.0))
        elif tag in (f"{DRAW}frame", f"{DRAW}custom-shape", f"{DRAW}rect", f"{DRAW}ellipse", f"{DRAW}text-box"):
            kind = "title" if child.get(f"{PRES}class") == "title" else "text"
            if child.get(f"{PRES}class") in ("page-number", "footer", "date-time", "header"):
                continue
            lines: list[str] = []
            for el in child.iter(f"{TEXT}p", f"{TEXT}h", f"{TABLE}table", f"{TEXT}list"):
                if el.tag == f"{TABLE}table":
                    lines.extend(table_lines(el))
                elif el.tag == f"{TEXT}list":
                    lines.extend(list_lines(el))
                elif _inside(el, child, (f"{TABLE}table", f"{TEXT}list")):
                    continue
                elif text := node_text(el).strip():
                    lines.append(text)
            items = [(kind, "\n".join(lines))] if lines else []
            pos = (-1.0, -1.0) if kind == "title" else (_length(child.get(f"{SVG}y")), _length(child.get(f"{SVG}x")))
        else:
            continue
        if items:
            placed.append((pos, index, items))
    placed.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, items in placed for item in items]


def _inside(el: Any, stop: Any, tags: tuple[str, ...]) -> bool:
    parent = el.getparent()
    while parent is not None and parent is not stop:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False
