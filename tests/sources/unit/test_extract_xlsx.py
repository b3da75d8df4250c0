from __future__ import annotations

import io

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits, ExtractionStats
from sources.extractors.xlsx import XlsxExtractor, _openpyxl_sheets
from tests.fixtures.documents import build_cfb_file, build_docx, build_xlsx, build_xlsx_rows, build_zip_bomb_xlsx


def test_two_sheets_records_dates_and_cached_formulas(run_extractor):
    segments, stats = run_extractor("xlsx", build_xlsx())
    assert stats.sheets == 2 and stats.engine == "calamine" and stats.unit_name == "rows"
    people = [s for s in segments if s.metadata["sheet"] == "People"]
    text = "\n".join(s.text for s in people)
    assert text.splitlines() == [
        "Name: Alice; Age: 30; Born: 1994-03-15; Updated: 2024-01-05T13:04:05; Double: 60",
        "Name: Bob; Age: 41; Born: 1983-12-01; Updated: 2024-02-01T08:00:00; Double: 82",
        "Name: Chloé; Age: 31.5; Born: 1993-07-09; Double: 63",
    ]
    summary = [s for s in segments if s.metadata["sheet"] == "Summary"]
    assert summary[0].text == "Metric: Total Age; Value: 102.5"
    assert summary[0].boundary and people[0].boundary


def test_row_numbers_are_spreadsheet_rows_and_gaps_split_groups(run_extractor):
    segments, stats = run_extractor("xlsx", build_xlsx())
    people = [s.metadata for s in segments if s.metadata["sheet"] == "People"]
    assert people == [
        {"sheet": "People", "row_start": 2, "row_end": 3},
        {"sheet": "People", "row_start": 5, "row_end": 5},
    ]
    assert stats.units_done == 4  # data rows, headers excluded


def test_empty_column_never_appears(run_extractor):
    segments, _ = run_extractor("xlsx", build_xlsx())
    assert "Column C" not in "\n".join(s.text for s in segments)


def test_every_line_matches_its_row_count(run_extractor):
    segments, _ = run_extractor("xlsx", build_xlsx_rows(450))
    for s in segments:
        lines = s.text.split("\n")
        assert len(lines) == s.metadata["row_end"] - s.metadata["row_start"] + 1
        assert lines[0].startswith(f"Id: {s.metadata['row_start'] - 1}; Name: item")
    assert segments[-1].metadata["row_end"] == 451


def test_max_rows(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("xlsx", build_xlsx_rows(30), max_rows=10)
    assert exc.value.code == ErrorCode.TOO_LARGE
    segments, stats = run_extractor("xlsx", build_xlsx_rows(30), max_rows=10, truncate=True)
    assert sum(len(s.text.split("\n")) for s in segments) == 10
    assert stats.truncated and "10 rows" in stats.notices[0]


def test_openpyxl_fallback_gives_same_records():
    book = __import__("openpyxl").load_workbook(io.BytesIO(build_xlsx()), read_only=True, data_only=True)
    sheets = {name: list(rows) for name, rows in _openpyxl_sheets(book)}
    assert list(sheets) == ["People", "Summary"]
    assert sheets["People"][1][0] == 2 and sheets["People"][1][1][5] == 60


def test_calamine_failure_falls_back_to_openpyxl(monkeypatch):
    import python_calamine

    def broken(*args, **kwargs):
        raise python_calamine.CalamineError("boom")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", broken)
    stats = ExtractionStats()
    segments = list(XlsxExtractor().extract(io.BytesIO(build_xlsx()), limits=ExtractionLimits(), stats=stats))
    assert stats.engine == "openpyxl"
    assert segments[0].text.startswith("Name: Alice; Age: 30; Born: 1994-03-15; Updated: 2024-01-05T13:04:05")


def test_cfb_named_xlsx_is_encrypted(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("xlsx", build_cfb_file())
    assert exc.value.code == ErrorCode.ENCRYPTED


def test_zip_bomb_xlsx_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("xlsx", build_zip_bomb_xlsx())
    assert exc.value.code == ErrorCode.TOO_LARGE


def test_docx_named_xlsx_is_corrupt(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("xlsx", build_docx())
    assert exc.value.code == ErrorCode.CORRUPT


@pytest.mark.parametrize("build", [build_xlsx, lambda: build_xlsx_rows(700)])
def test_sheets_over_the_threshold_are_streamed_with_the_same_records(run_extractor, build):
    data = build()
    held, held_stats = run_extractor("xlsx", data)
    streamed, streamed_stats = run_extractor("xlsx", data, stream_sheets_over_bytes=0)

    assert held_stats.engine == "calamine" and streamed_stats.engine == "openpyxl (streaming)"
    assert streamed and [(s.text, s.metadata, s.boundary) for s in streamed] == [
        (s.text, s.metadata, s.boundary) for s in held
    ]
    assert (streamed_stats.units_done, streamed_stats.sheets) == (held_stats.units_done, held_stats.sheets)


def test_streamed_sheet_keeps_the_row_cap(run_extractor):
    with pytest.raises(ProcessingError) as raised:
        run_extractor("xlsx", build_xlsx_rows(300), stream_sheets_over_bytes=0, max_rows=100)
    assert raised.value.code == ErrorCode.TOO_LARGE
