"""XLSX extraction: every sheet as self-describing "Header: value" row records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

import python_calamine
from openpyxl import load_workbook

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import (
    CharBudget,
    record_segments,
    rewind,
)
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.ooxml import check_zip

CORRUPT_MESSAGE = "This Excel file is damaged or could not be read."


class XlsxExtractor:
    """Reads with python-calamine (Rust, fast), falling back to openpyxl read-only.

    Hidden sheets are included: they are the owner's data and often hold lookup tables the
    chatbot should know. Chart sheets have no cells and yield nothing. Formulas yield the
    value Excel cached when the file was saved; neither engine recalculates. calamine loads
    one sheet at a time into memory; the zip checks bound how large that can be.
    """

    kind = "xlsx"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        check_zip(stream, limits, "xl/workbook.xml").close()
        stats.unit_name = "rows"
        sheets = _open_sheets(stream, stats)
        budget = CharBudget(limits, stats)
        emitted = 0
        for name, rows in sheets:
            stats.sheets += 1
            for segment in record_segments(name, rows, limits, stats, budget, progress):
                emitted += 1
                yield segment
                if budget.exhausted:
                    return
            if stats.truncated:
                return
        if progress:
            progress(stats)
        if not emitted:
            raise ProcessingError(ErrorCode.EMPTY, "This Excel file contains no data.")


SheetRows = Iterable[tuple[int, list[Any]]]


def _open_sheets(stream: IO[bytes], stats: ExtractionStats) -> Iterator[tuple[str, SheetRows]]:
    """Choose the engine once, before the first row is produced."""
    stream.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        names = [m.name for m in workbook.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    except Exception:  # any calamine failure means: try the other engine
        stream.seek(0)
        try:
            book = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many unrelated types on bad input
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
        stats.engine = "openpyxl"
        return _openpyxl_sheets(book)
    stats.engine = "calamine"
    return _calamine_sheets(workbook, names)


def _calamine_sheets(workbook: Any, names: list[str]) -> Iterator[tuple[str, SheetRows]]:
    try:
        for name in names:
            try:
                sheet = workbook.get_sheet_by_name(name)
            except Exception as exc:
                raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
            start = sheet.start
            first_row = (start[0] if start else 0) + 1
            yield name, ((first_row + i, row) for i, row in enumerate(sheet.iter_rows()))
    finally:
        workbook.close()


def _openpyxl_sheets(book: Any) -> Iterator[tuple[str, SheetRows]]:
    try:
        for ws in book.worksheets:
            yield ws.title, _openpyxl_rows(ws)
    finally:
        book.close()


def _openpyxl_rows(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    for row in ws.iter_rows():
        cells = [cell for cell in row if getattr(cell, "row", None) is not None]
        if cells:
            yield cells[0].row, [cell.value for cell in row]
