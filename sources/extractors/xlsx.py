"""Spreadsheets (XLSX, ODS, XLS, XLSB): every sheet as self-describing "Header: value" row records."""

from __future__ import annotations

import logging
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
from sources.extractors.odf import open_odf
from sources.extractors.ooxml import check_zip

CORRUPT_MESSAGE = "This spreadsheet is damaged or could not be read."
ENCRYPTED_MESSAGE = "This spreadsheet is password-protected. Remove the password and upload it again."
logger = logging.getLogger(__name__)


class XlsxExtractor:
    """Reads with python-calamine (Rust, fast), falling back to openpyxl read-only.

    Hidden sheets are included: they are the owner's data and often hold lookup tables the
    chatbot should know. Chart sheets have no cells and yield nothing. Formulas yield the
    value Excel cached when the file was saved; neither engine recalculates. calamine loads
    one sheet at a time into memory; the zip checks bound how large that can be, and an XLSX
    whose largest sheet is over ``limits.stream_sheets_over_bytes`` is streamed by openpyxl.

    The same path reads ODS, XLS (BIFF) and XLSB, which calamine parses too; only XLSX has a
    second engine, used for the whole file or for single sheets calamine rejects (numbers
    written with leading spaces, a wrong ``<dimension>``), so one odd sheet never loses the rest.
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
        largest_sheet = _check_container(self.kind, stream, limits)
        stats.unit_name = "rows"
        if largest_sheet > limits.stream_sheets_over_bytes:
            sheets = _streamed_sheets(stream, stats)
        else:
            sheets = _open_sheets(stream, stats, fallback=self.kind == "xlsx")
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
            raise ProcessingError(ErrorCode.EMPTY, "This spreadsheet contains no data.")


class OdsExtractor(XlsxExtractor):
    kind = "ods"


class XlsExtractor(XlsxExtractor):
    kind = "xls"


class XlsbExtractor(XlsxExtractor):
    kind = "xlsb"


def _check_container(kind: str, stream: IO[bytes], limits: ExtractionLimits) -> int:
    """Zip-bomb checks for the zip formats; BIFF (.xls) is a compound file calamine reads in place.

    Returns the uncompressed size of the largest XLSX worksheet part (0 for the other formats).
    """
    largest = 0
    if kind == "xlsx":
        with check_zip(stream, limits, "xl/workbook.xml") as archive:
            largest = max((i.file_size for i in archive.infolist() if i.filename.startswith("xl/worksheets/")),
                          default=0)
    elif kind == "xlsb":
        check_zip(stream, limits, "xl/workbook.bin", label="Excel binary workbook").close()
    elif kind == "ods":
        open_odf(stream, limits, "ods").close()
    stream.seek(0)
    return largest


SheetRows = Iterable[tuple[int, list[Any]]]


def _open_sheets(stream: IO[bytes], stats: ExtractionStats, *, fallback: bool) -> Iterator[tuple[str, SheetRows]]:
    """Choose the engine once, before the first row is produced."""
    stream.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        names = [m.name for m in workbook.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    except Exception as exc:  # any calamine failure means: try the other engine
        if not fallback:
            text = str(exc).lower()
            if "password" in text or "encrypt" in text:
                raise ProcessingError(ErrorCode.ENCRYPTED, ENCRYPTED_MESSAGE) from exc
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
        stream.seek(0)
        try:
            book = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many unrelated types on bad input
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
        stats.engine = "openpyxl"
        return _openpyxl_sheets(book)
    stats.engine = "calamine"
    return _calamine_sheets(workbook, names, stream if fallback else None, stats)


def _calamine_sheets(
    workbook: Any, names: list[str], stream: IO[bytes] | None, stats: ExtractionStats
) -> Iterator[tuple[str, SheetRows]]:
    """Sheets by calamine; a sheet it rejects is read by openpyxl (XLSX) or skipped with a notice."""
    book = None
    skipped: list[str] = []
    try:
        for name in names:
            try:
                sheet = workbook.get_sheet_by_name(name)
            except Exception:
                logger.info("calamine could not read sheet %r; trying openpyxl", name, exc_info=True)
                if stream is None:
                    skipped.append(name)
                    continue
                if book is None:
                    stream.seek(0)
                    try:
                        book = load_workbook(stream, read_only=True, data_only=True)
                    except Exception as exc:
                        raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
                stats.engine = "calamine+openpyxl"
                yield name, _openpyxl_rows(book[name])
                continue
            start = sheet.start
            first_row = (start[0] if start else 0) + 1
            yield name, ((first_row + i, row) for i, row in enumerate(sheet.iter_rows()))
    finally:
        workbook.close()
        if book is not None:
            book.close()
    if skipped:
        if len(skipped) == len(names):
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE)
        stats.notices.append(f"Sheets that could not be read were skipped: {', '.join(skipped)}.")


def _streamed_sheets(stream: IO[bytes], stats: ExtractionStats) -> Iterator[tuple[str, SheetRows]]:
    """A sheet too big to hold: openpyxl read-only parses it row by row, so memory stays flat.

    calamine holds a whole sheet (about 70 bytes a cell), which grows with the sheet; openpyxl
    streams at a fraction of the speed, so it is used only above the size threshold.
    """
    stream.seek(0)
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types on bad input
        raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
    stats.engine = "openpyxl (streaming)"
    return _openpyxl_sheets(book)


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
