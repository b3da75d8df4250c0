from __future__ import annotations

import io
import resource
import time
import zipfile

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from tests.fixtures.documents import (
    build_billion_laughs_docx,
    build_docx,
    build_docx_from_xml,
    build_docx_many_paragraphs,
    build_docx_with_many_entries,
    build_not_a_zip,
    build_xlsx,
    build_xxe_docx,
    build_zip_bomb_docx,
)


def test_heading_paths_body_order_and_boundaries(run_extractor):
    segments, stats = run_extractor("docx", build_docx())
    assert [s.metadata["heading_path"] for s in segments] == [
        ["Employee Handbook"],
        ["Employee Handbook", "Holidays"],
        ["Employee Handbook", "Holidays", "Public holidays"],
        ["Employee Handbook", "Team directory"],
    ]
    assert all(s.boundary for s in segments)
    full = "\n\n".join(s.text for s in segments)
    order = ["Welcome to the company", "25 days", "Requests go", "Public holidays follow", "Name: Alice", "Contact HR"]
    positions = [full.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert stats.unit_name == "paragraphs" and stats.engine == "lxml"


def test_table_rows_are_header_value_records(run_extractor):
    segments, _ = run_extractor("docx", build_docx())
    table_section = segments[-1].text
    assert "Name: Alice; Age: 30; Role: Engineer" in table_section
    assert "Name: Bob; Role: Designer" in table_section  # empty cell skipped


def test_deleted_text_is_skipped_and_tabs_kept(run_extractor):
    segments, _ = run_extractor("docx", build_docx())
    text = "\n".join(s.text for s in segments)
    assert "DELETED_SECRET" not in text
    assert "Approval\ttakes two days." in text


def test_large_document_is_segmented_and_complete(run_extractor):
    segments, stats = run_extractor("docx", build_docx_many_paragraphs(2000))
    assert stats.units_done == 2000
    assert len(segments) >= 2000 // 50
    assert all(len(s.text) < 10_000 for s in segments)
    text = "\n\n".join(s.text for s in segments)
    assert text.count("Paragraph ") == 2000 and "Paragraph 1999 " in text


def test_empty_document_is_empty(run_extractor):
    xml = '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>'
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_docx_from_xml(xml))
    assert exc.value.code == ErrorCode.EMPTY


def test_billion_laughs_does_not_expand(run_extractor):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_billion_laughs_docx(levels=10))
    assert exc.value.code == ErrorCode.CORRUPT
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


def test_xxe_never_reads_local_files(run_extractor, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    try:
        segments, _ = run_extractor("docx", build_xxe_docx(secret))
    except ProcessingError as exc:
        assert exc.code == ErrorCode.CORRUPT
        assert "TOP-SECRET" not in exc.message
    else:
        assert all("TOP-SECRET" not in s.text for s in segments)


def test_entity_in_part_without_doctype_prefix_is_not_resolved(run_extractor, tmp_path):
    # A DOCTYPE pushed past the first 4 KiB by a comment: the parser itself must stay safe.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = (
        '<?xml version="1.0"?><!--' + "x" * 5000 + f'--><!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        "<w:p><w:r><w:t>a &xxe; b</w:t></w:r></w:p></w:body></w:document>"
    )
    try:
        segments, _ = run_extractor("docx", build_docx_from_xml(xml))
    except ProcessingError as exc:
        assert exc.code == ErrorCode.CORRUPT
    else:
        assert all("TOP-SECRET" not in s.text for s in segments)


def test_zip_bomb_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_zip_bomb_docx(inflated_mb=20))
    assert exc.value.code == ErrorCode.TOO_LARGE
    assert "suspiciously compressed" in exc.value.message


def test_too_many_entries_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_docx_with_many_entries(50), max_zip_entries=20)
    assert exc.value.code == ErrorCode.TOO_LARGE


def test_total_uncompressed_size_cap(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_docx_many_paragraphs(200), max_uncompressed_bytes=1000)
    assert exc.value.code == ErrorCode.TOO_LARGE


def test_bad_zip_is_corrupt(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_not_a_zip())
    assert exc.value.code == ErrorCode.CORRUPT


def test_xlsx_named_docx_is_corrupt_with_hint(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", build_xlsx())
    assert exc.value.code == ErrorCode.CORRUPT
    assert ".xlsx" in exc.value.message


def test_python_docx_default_template_reads_or_is_empty(run_extractor):
    """A real-world package written by Word (python-docx's template): it has no body text."""
    import docx

    path = docx.__path__[0] + "/templates/default.docx"
    with open(path, "rb") as fh:
        data = fh.read()
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml")
    with pytest.raises(ProcessingError) as exc:
        run_extractor("docx", data)
    assert exc.value.code == ErrorCode.EMPTY
