"""CSV export of a report's day series, with spreadsheet formula injection neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DAILY_COLUMNS = ("date", "conversations", "messages")


def escape_cell(value: Any) -> str:
    """The cell as text; one a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def daily_series_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(DAILY_COLUMNS)
    for row in rows:
        writer.writerow([escape_cell(row.get(column)) for column in DAILY_COLUMNS])
    return buffer.getvalue()
