"""ODS and XLS on the XLSX path, and the per-sheet fallback that keeps every readable sheet."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.detect import detect_kind
from tests.fixtures import office
from tests.fixtures.biff import build_xls


def _two_sheet_xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    good = book.active
    good.title = "Good"
    good.append(["Name", "Qty"])
    good.append(["Ann", 3])
    odd = book.create_sheet("Odd")
    odd.append(["Item", "Count"])
    odd.append(["Pens", 42])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _patch_sheet2(data: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info, edit(body) if info.filename == "xl/worksheets/sheet2.xml" else body)
    return out.getvalue()


def test_ods_sheets_become_records(run_extractor):
    segments, stats = run_extractor("ods", office.build_ods())

    assert [s.metadata["sheet"] for s in segments] == ["Staff", "Budget"]
    assert "Name: Ann; City: Oslo" in segments[0].text and "Item: Laptop; Cost: 1200" in segments[1].text
    assert (stats.engine, stats.sheets) == ("calamine", 2)


def test_xls_biff_sheets_become_records(run_extractor):
    data = build_xls({"Staff": [["Name", "Age"], ["Ann", 30], ["Ben", 41.5]], "Cities": [["City"], ["Oslo"]]})

    segments, stats = run_extractor("xls", data)

    assert segments[0].text == "Name: Ann; Age: 30\nName: Ben; Age: 41.5"
    assert segments[0].metadata == {"sheet": "Staff", "row_start": 2, "row_end": 3}
    assert segments[1].metadata["sheet"] == "Cities" and segments[1].text == "City: Oslo"


def test_xls_detection_by_content():
    assert detect_kind("old.xls", build_xls({"S": [["a"]]})) == "xls"
    assert detect_kind("renamed.xls", _two_sheet_xlsx()) == "xlsx"
    with pytest.raises(ProcessingError) as err:
        detect_kind("export.xls", b"<html><table><tr><td>1</td></tr></table></html>")
    assert err.value.code == ErrorCode.UNSUPPORTED_TYPE


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.replace(b"<v>42</v>", b"<v> 42</v>"),  # numbers with leading spaces
        lambda b: re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A0:ZZZ99999999"/>', b),  # wrong dimension
    ],
    ids=["leading-spaces", "wrong-dimension"],
)
def test_sheet_the_fast_engine_rejects_is_read_by_the_other_and_no_sheet_is_lost(run_extractor, edit):
    segments, stats = run_extractor("xlsx", _patch_sheet2(_two_sheet_xlsx(), edit))

    assert [s.metadata["sheet"] for s in segments] == ["Good", "Odd"]
    assert segments[0].text == "Name: Ann; Qty: 3"
    assert segments[1].text == "Item: Pens; Count: 42"
    assert stats.engine == "calamine+openpyxl"


def test_garbage_xls_is_corrupt(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    assert err.value.code == ErrorCode.CORRUPT
