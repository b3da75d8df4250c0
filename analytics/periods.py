"""Report periods ("24h", "7d", "Nd"): parsing and the time window and days they cover."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from botsmith.errors import ErrorCode, ProcessingError

MAX_PERIOD_DAYS = 365
PERIOD_FORMS = f"24h, 7d, 30d, 90d or Nd with N between 1 and {MAX_PERIOD_DAYS}"
_PERIOD_RE = re.compile(r"(24)h|([1-9][0-9]{0,2})d")


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end)."""

    start: datetime
    end: datetime

    def dates(self) -> list[date]:
        """Every UTC calendar date the window touches, oldest first."""
        first = self.start.date()
        last = (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_period(value: object) -> timedelta:
    """The length of a period such as ``"7d"``; ProcessingError(INVALID_ARGUMENT) for anything else."""
    match = _PERIOD_RE.fullmatch(value) if isinstance(value, str) else None
    days = 1 if match and match.group(1) else int(match.group(2)) if match else 0
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"Unknown period {value!r}: use {PERIOD_FORMS}.")
    return timedelta(days=days)


def window_ending(period: str, end: datetime) -> Window:
    return Window(start=end - parse_period(period), end=end)
