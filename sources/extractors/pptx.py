"""PPTX extraction: slides in order, the title as heading, text frames in reading order, tables, notes."""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.ooxml import check_zip, parse_small_part
from sources.extractors.sections import SectionBuilder, cap_units, slide_segments, table_records

P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
NOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
TITLE_TYPES = ("title", "ctrTitle")


def read_rels(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """``{rId: (type, member name)}`` for an OOXML part, targets resolved inside the archive."""
    folder, name = posixpath.split(part)
    root = parse_small_part(archive, posixpath.join(folder, "_rels", f"{name}.rels"))
    rels: dict[str, tuple[str, str]] = {}
    if root is None:
        return rels
    for rel in root.iter(f"{REL}Relationship"):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External" or not target:
            continue
        member = posixpath.normpath(target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target))
        rels[rel.get("Id") or ""] = (rel.get("Type") or "", member)
    return rels


class PptxExtractor:
    kind = "pptx"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        archive = check_zip(stream, limits, "ppt/presentation.xml")
        stats.engine, stats.unit_name = "lxml", "slides"
        try:
            slides = _slide_parts(archive)
            slides = cap_units(slides, limits, stats, "This presentation", "slides")
            builder = SectionBuilder(CharBudget(limits, stats))
            for number, part in enumerate(slides, start=1):
                title, blocks, notes = _read_slide(archive, part)
                stats.units_done = number
                if title or blocks or notes:
                    stats.units_with_text += 1
                yield from slide_segments(builder, number, title, blocks, notes)
                if builder.exhausted:
                    break
                if progress:
                    progress(stats)
        finally:
            archive.close()
        if not builder.emitted:
            raise ProcessingError(ErrorCode.EMPTY, "This presentation contains no text.")


def _slide_parts(archive: zipfile.ZipFile) -> list[str]:
    root = parse_small_part(archive, "ppt/presentation.xml")
    rels = read_rels(archive, "ppt/presentation.xml")
    order = root.find(f"{P}sldIdLst") if root is not None else None
    if order is None:
        return []
    return [rels[rid][1] for sld in order.iter(f"{P}sldId") if (rid := sld.get(f"{R}id")) in rels]


def _read_slide(archive: zipfile.ZipFile, part: str) -> tuple[str, list[str], str]:
    root = parse_small_part(archive, part)
    if root is None:
        return "", [], ""
    tree = root.find(f"{P}cSld/{P}spTree")
    title, blocks = "", []
    for kind, text in _shapes(tree) if tree is not None else []:
        if kind == "title" and not title:
            title = " ".join(text.split())
        else:
            blocks.append(text)
    notes = ""
    for rel_type, member in read_rels(archive, part).values():
        if rel_type == NOTES_REL:
            notes = _notes_text(archive, member)
    return title, blocks, notes


def _offset(el: Any, path: str) -> tuple[int, int] | None:
    off = el.find(path)
    if off is None:
        return None
    try:
        return int(off.get("y", 0)), int(off.get("x", 0))
    except ValueError:
        return None


def _shapes(tree: Any) -> list[tuple[str, str]]:
    """``(kind, text)`` of every text frame and table under ``tree``, in reading order.

    Reading order is top-to-bottom, then left-to-right by each shape's offset; a shape that
    inherits its position from the layout keeps its place after its predecessor.
    """
    placed: list[tuple[tuple[int, int], int, list[tuple[str, str]]]] = []
    last = (0, 0)
    for index, child in enumerate(tree):
        tag = child.tag
        if tag == f"{P}sp":
            pos = _offset(child, f"{P}spPr/{A}xfrm/{A}off")
            ph = child.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
            kind = "title" if ph is not None and ph.get("type") in TITLE_TYPES else "text"
            body = child.find(f"{P}txBody")
            text = _frame_text(body) if body is not None else ""
            items = [(kind, text)] if text.strip() else []
            if kind == "title":
                pos = (-1, -1)  # the title leads however it is placed
        elif tag == f"{P}grpSp":
            pos = _offset(child, f"{P}grpSpPr/{A}xfrm/{A}off")
            items = _shapes(child)
        elif tag == f"{P}graphicFrame":
            pos = _offset(child, f"{P}xfrm/{A}off")
            tbl = child.find(f".//{A}tbl")
            items = [("text", line) for line in _table(tbl)] if tbl is not None else []
            items = [("text", "\n".join(t for _, t in items))] if items else []
        else:
            continue
        last = pos if pos is not None else last
        if items:
            placed.append((last, index, items))
    placed.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, items in placed for item in items]


def _paragraph(p: Any) -> str:
    return "".join("\n" if el.tag == f"{A}br" else (el.text or "") for el in p.iter(f"{A}t", f"{A}br")).strip()


def _frame_text(body: Any) -> str:
    return "\n".join(text for p in body.iterchildren(f"{A}p") if (text := _paragraph(p)))


def _table(tbl: Any) -> list[str]:
    rows = [
        [" ".join(_paragraph(p) for p in tc.iter(f"{A}p")) for tc in tr.iterchildren(f"{A}tc")]
        for tr in tbl.iterchildren(f"{A}tr")
    ]
    return table_records(rows)


def _notes_text(archive: zipfile.ZipFile, member: str) -> str:
    root = parse_small_part(archive, member)
    if root is None:
        return ""
    texts = []
    for sp in root.iter(f"{P}sp"):
        ph = sp.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
        body = sp.find(f"{P}txBody")
        if ph is not None and ph.get("type") == "body" and body is not None:
            texts.append(_frame_text(body))
    return "\n".join(t for t in texts if t)
