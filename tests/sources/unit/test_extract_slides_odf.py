"""PPTX, ODP and ODT extraction: order, headings, tables, notes, metadata."""

from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from tests.fixtures import office


def test_pptx_slides_in_order_with_title_heading_reading_order_table_and_notes(run_extractor):
    segments, stats = run_extractor("pptx", office.build_pptx())

    assert [s.metadata for s in segments] == [
        {"slide": 1, "heading_path": ["Quarterly results"]}, {"slide": 2, "heading_path": ["Team"]},
    ]
    assert all(s.boundary for s in segments)
    assert segments[0].text.startswith("Quarterly results\n\nRevenue grew twelve percent")
    assert f"Speaker notes: {office.SLIDE_NOTES}" in segments[0].text
    second = segments[1].text
    assert second.index("Top box text") < second.index("Name: Alice; Role: Engineer") < second.index("Bottom box")
    assert "Grouped box text" in second and "Name: Bob; Role: Designer" in second
    assert (stats.units_total, stats.units_done, stats.unit_name) == (2, 2, "slides")


def test_pptx_slide_count_over_the_cap_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("pptx", office.build_pptx_slides(4), max_pages=3)
    assert err.value.code == ErrorCode.TOO_LARGE


def test_pptx_slide_count_over_the_cap_truncates_with_a_notice(run_extractor):
    segments, stats = run_extractor("pptx", office.build_pptx_slides(4), max_pages=3, truncate=True)
    assert [s.metadata["slide"] for s in segments] == [1, 2, 3]
    assert stats.truncated


def test_word_file_named_pptx_is_corrupt_with_rename_hint(run_extractor):
    from tests.fixtures.documents import build_docx

    with pytest.raises(ProcessingError) as err:
        run_extractor("pptx", build_docx())
    assert err.value.code == ErrorCode.CORRUPT


def test_odp_slides_titles_reading_order_and_notes(run_extractor):
    segments, stats = run_extractor("odp", office.build_odp())

    assert [s.metadata for s in segments] == [
        {"slide": 1, "heading_path": ["Roadmap"]}, {"slide": 2, "heading_path": ["Budget"]},
    ]
    first = segments[0].text
    assert first.index("Upper part text") < first.index("Lower part text")
    assert "Speaker notes: Notes for slide 1" in first
    assert stats.unit_name == "slides"


def test_odt_heading_paths_lists_tables_in_body_order_without_footnotes(run_extractor):
    segments, _ = run_extractor("odt", office.build_odt())

    by_heading = {tuple(s.metadata["heading_path"]): s.text for s in segments}
    holidays = by_heading[("Employee handbook", "Holidays")]
    assert "Everyone gets 25 days of paid holiday per year." in holidays
    assert "- Bring a laptop\n- Sign the contract" in holidays
    assert "Name: Alice; Age: 30; Role: Engineer" in by_heading[("Employee handbook", "People")]
    text = "\n".join(s.text for s in segments)
    assert "FOOTNOTE_BODY" not in text
    assert text.index("Welcome") < text.index("25 days") < text.index("Alice")


def test_odt_named_odp_is_refused_with_a_rename_hint(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("odp", office.build_odt())
    assert err.value.code == ErrorCode.CORRUPT and ".odt" in err.value.message


def test_encrypted_odt_is_encrypted(run_extractor):
    manifest = (b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
                b'manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/>'
                b"</manifest:file-entry></manifest:manifest>")
    data = office.replace_member(office.build_odt(), "META-INF/manifest.xml", manifest)
    with pytest.raises(ProcessingError) as err:
        run_extractor("odt", data)
    assert err.value.code == ErrorCode.ENCRYPTED
