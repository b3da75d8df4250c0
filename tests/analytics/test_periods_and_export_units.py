"""Pure helpers: period parsing, the days a window touches, CSV formula escaping, the SVG chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.charts import daily_bar_chart
from analytics.csv_export import daily_series_csv, escape_cell
from analytics.periods import PERIOD_FORMS, Window, parse_period, window_ending
from botsmith.errors import ErrorCode, ProcessingError


@pytest.mark.parametrize(("value", "days"), [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90), ("1d", 1),
                                               ("365d", 365), ("12d", 12)])
def test_accepted_periods(value, days):
    assert parse_period(value) == timedelta(days=days)


@pytest.mark.parametrize("value", ["0d", "366d", "07d", "12h", "1w", "abc", "", "7d\n", " 7d", "-7d", 7, None,
                                   "1000d", "7D"])
def test_refused_periods_name_the_accepted_forms(value):
    with pytest.raises(ProcessingError) as info:
        parse_period(value)
    assert info.value.code == ErrorCode.INVALID_ARGUMENT
    assert PERIOD_FORMS in info.value.message
    assert PERIOD_FORMS == "24h, 7d, 30d, 90d or Nd with N between 1 and 365"


def test_window_dates_cover_every_touched_day_and_exclude_an_end_at_midnight():
    end = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert len(window_ending("7d", end).dates()) == 8
    midnight = datetime(2025, 3, 10, tzinfo=UTC)
    dates = window_ending("7d", midnight).dates()
    assert [d.isoformat() for d in (dates[0], dates[-1])] == ["2025-03-03", "2025-03-09"]
    assert len(dates) == 7
    assert len(Window(midnight - timedelta(days=1), midnight).dates()) == 1


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("2025-03-01", "2025-03-01"), (5, "5"), (None, ""), ("a=b", "a=b"),
])
def test_escape_cell(value, expected):
    assert escape_cell(value) == expected


def test_csv_has_header_and_escaped_cells():
    text = daily_series_csv([{"date": "2025-03-01", "conversations": 2, "messages": 5},
                             {"date": '=HYPERLINK("http://evil")', "conversations": "-3", "messages": "@x"}])
    lines = text.split("\r\n")
    assert lines[0] == "date,conversations,messages"
    assert lines[1] == "2025-03-01,2,5"
    assert lines[2] == '"\'=HYPERLINK(""http://evil"")",\'-3,\'@x'


def test_chart_draws_two_bars_per_day_and_escapes_text():
    svg = daily_bar_chart([{"date": "2025-03-01", "conversations": 2, "messages": 4},
                           {"date": "<script>alert(1)</script>", "conversations": "bad", "messages": 0}])
    assert svg.count("<rect") == 4
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'height="160"' in svg  # the busiest bar is full height
