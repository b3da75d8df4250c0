"""Helpers shared by the extractors: stream handling, character caps and row records."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment

SPOOL_MAX_MEMORY = 8 * 1024 * 1024
ROWS_PER_SEGMENT = 100
CHARS_PER_SEGMENT = 4000


def rewind(stream: IO[bytes]) -> IO[bytes]:
    """Return a seekable stream positioned at 0.

    Type detection reads the head of the upload, and pdfium/zipfile need random access, so a
    non-seekable stream (a socket, a pipe) is spooled to a temporary file first.
    """
    try:
        if stream.seekable():
            stream.seek(0)
            return stream
    except (AttributeError, OSError, ValueError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY)  # noqa: SIM115 - returned to caller
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def read_head(stream: IO[bytes], size: int) -> bytes:
    """Read up to ``size`` bytes from the start and rewind, for sniffing."""
    stream.seek(0)
    head = stream.read(size) or b""
    stream.seek(0)
    return head


class CharBudget:
    """Counts characters emitted against ``limits.max_chars``.

    ``take`` returns the text that may still be emitted: all of it, a truncated prefix (with
    ``stats.truncated`` set and a notice) or raises ``too_large`` when truncation is off.
    """

    def __init__(self, limits: ExtractionLimits, stats: ExtractionStats) -> None:
        self.remaining = limits.max_chars
        self.truncate = limits.truncate
        self.stats = stats
        self.exhausted = False

    def take(self, text: str) -> str:
        if len(text) <= self.remaining:
            self.remaining -= len(text)
            return text
        if not self.truncate:
            raise ProcessingError(
                ErrorCode.TOO_LARGE,
                "This file contains more text than the allowed maximum.",
            )
        kept = text[: self.remaining]
        self.remaining = 0
        self.exhausted = True
        truncate_notice(self.stats, "Text was cut off at the maximum number of characters.")
        return kept


def truncate_notice(stats: ExtractionStats, notice: str) -> None:
    stats.truncated = True
    if notice not in stats.notices:
        stats.notices.append(notice)


def format_cell(value: Any) -> str:
    """Render a spreadsheet/CSV cell the way a person reads it.

    Integral floats lose their ``.0`` (calamine returns every number as float), dates are ISO
    (a datetime at midnight is shown as a date, since both engines report date cells that
    way), and embedded newlines become spaces so one record stays one line.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return f"{value:.15g}"
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, dt.datetime):
        value = value.replace(microsecond=0)
        if value.hour == value.minute == value.second == 0 and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    elif isinstance(value, dt.date | dt.time):
        return value.isoformat()
    else:
        text = str(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text.strip()


def format_row(values: Sequence[Any]) -> list[str]:
    """``[format_cell(v) for v in values]``, with the common types (text, numbers, empty) inline.

    The extractors call this once per row; a function call per cell was most of the XLSX time.
    """
    out: list[str] = []
    append = out.append
    for value in values:
        kind = type(value)
        if kind is str:
            if "\n" in value or "\r" in value:
                value = " ".join(value.split())
            append(value.strip())
        elif kind is float:
            if value.is_integer() and abs(value) < 1e16:
                append(str(int(value)))
            else:
                append(f"{value:.15g}")
        elif value is None:
            append("")
        else:
            append(format_cell(value))
    return out


def column_label(index: int) -> str:
    """Spreadsheet column letters for a 0-based index (0 -> A, 26 -> AA)."""
    label = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        label = chr(65 + rem) + label
    return label


def make_headers(cells: Sequence[str]) -> list[str]:
    return [cell or f"Column {column_label(i)}" for i, cell in enumerate(cells)]


def format_record(headers: list[str], cells: Sequence[str]) -> str:
    """``"Header: value; Header: value"`` for the non-empty cells of one row.

    Every row carries its headers so any group of rows is self-describing for retrieval;
    empty cells are skipped, which also drops columns that are empty throughout.
    """
    n_headers = len(headers)
    if len(cells) <= n_headers:
        return "; ".join([f"{header}: {cell}" for header, cell in zip(headers, cells, strict=False) if cell])
    parts = []
    for i, cell in enumerate(cells):
        if cell:
            header = headers[i] if i < n_headers else f"Column {column_label(i)}"
            parts.append(f"{header}: {cell}")
    return "; ".join(parts)


class RowGrouper:
    """Collect record lines into segments of consecutive rows.

    Invariant relied on by the chunker: line ``k`` of a row segment is spreadsheet row
    ``row_start + k``; a gap (skipped empty row) therefore starts a new segment.
    """

    def __init__(self, sheet: str | None) -> None:
        self.sheet = sheet
        self.lines: list[str] = []
        self.chars = 0
        self.row_start = 0
        self.next_row = 0
        self.first = True

    def add(self, row_number: int, line: str) -> dict[str, Any] | None:
        """Add a line; return a finished group's (text, metadata) when one closes."""
        done = None
        if self.lines and (
            row_number != self.next_row
            or len(self.lines) >= ROWS_PER_SEGMENT
            or self.chars >= CHARS_PER_SEGMENT
        ):
            done = self.flush()
        if not self.lines:
            self.row_start = row_number
        self.lines.append(line)
        self.chars += len(line) + 1
        self.next_row = row_number + 1
        return done

    def flush(self) -> dict[str, Any] | None:
        if not self.lines:
            return None
        group = {
            "text": "\n".join(self.lines),
            "metadata": {"sheet": self.sheet, "row_start": self.row_start, "row_end": self.next_row - 1},
            "boundary": self.first,
        }
        self.first = False
        self.lines = []
        self.chars = 0
        return group


def wrap_text(stream: IO[bytes], encoding: str, newline: str | None = "") -> io.TextIOWrapper:
    """Decode incrementally; ``errors="replace"`` so a stray byte never aborts a run.

    Callers must ``detach()`` the wrapper when done, or closing it closes their stream.
    """
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=newline)  # type: ignore[arg-type]


ROW_PROGRESS_EVERY = 1000


def record_segments(
    sheet: str | None,
    rows: Iterable[tuple[int, Sequence[Any]]],
    limits: ExtractionLimits,
    stats: ExtractionStats,
    budget: CharBudget,
    progress: ProgressCallback | None,
) -> Iterator[Segment]:
    """Rows of one table (a sheet, a CSV file) as ``header: value`` record segments.

    The first non-empty row is the header; empty rows are skipped; ``max_rows`` fails the file or
    truncates it with a notice. A table holding only its header row still yields that row: a list
    of labels is content too.
    """
    headers: list[str] | None = None
    header_line = ""
    header_row = 0
    data_rows = 0
    grouper = RowGrouper(sheet)
    for row_number, values in rows:
        cells = format_row(values)
        if not any(cells):
            continue
        if headers is None:
            headers = make_headers(cells)
            header_line = "; ".join(c for c in cells if c)
            header_row = row_number
            continue
        if stats.units_done >= limits.max_rows:
            if not limits.truncate:
                raise ProcessingError(ErrorCode.TOO_LARGE, f"This file has more than {limits.max_rows} rows.")
            truncate_notice(stats, f"Only the first {limits.max_rows} rows were imported.")
            break
        data_rows += 1
        stats.units_done += 1
        stats.units_with_text += 1
        group = grouper.add(row_number, budget.take(format_record(headers, cells)))
        if group:
            yield Segment(**group)
        if budget.exhausted:
            break
        if progress and stats.units_done % ROW_PROGRESS_EVERY == 0:
            progress(stats)
    group = grouper.flush()
    if group:
        yield Segment(**group)
    elif headers is not None and not data_rows:
        meta = {"sheet": sheet, "row_start": header_row, "row_end": header_row}
        yield Segment(budget.take(header_line), meta, True)
