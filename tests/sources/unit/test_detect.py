from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.detect import SUPPORTED_EXTENSIONS, content_type_for, detect_kind
from tests.fixtures.documents import (
    build_cfb_file,
    build_docx,
    build_html_named_pdf,
    build_pdf,
    build_utf16_bom_txt,
    build_xlsx,
)


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [
        ("report.PDF", build_pdf(["hello"]), "pdf"),
        ("handbook.docx", build_docx(), "docx"),
        ("sheet.xlsx", build_xlsx(), "xlsx"),
        ("data.csv", b"a,b\n1,2\n", "csv"),
        ("notes.txt", b"hello", "txt"),
        ("README.md", b"# Title", "txt"),
        ("guide.markdown", b"# Title", "txt"),
        ("utf16.txt", build_utf16_bom_txt(), "txt"),
    ],
)
def test_detects_supported_kinds(filename, data, kind):
    assert detect_kind(filename, data[:4096]) == kind


def test_pdf_marker_may_follow_junk_within_first_kilobyte():
    assert detect_kind("x.pdf", b"\r\n" * 100 + b"%PDF-1.4\n") == "pdf"


def test_html_named_pdf_is_unsupported():
    with pytest.raises(ProcessingError) as exc:
        detect_kind("invoice.pdf", build_html_named_pdf())
    assert exc.value.code == ErrorCode.UNSUPPORTED_TYPE
    assert "named .pdf but is not a PDF" in exc.value.message


@pytest.mark.parametrize("filename", ["secret.xlsx", "secret.docx"])
def test_cfb_header_under_ooxml_name_is_encrypted(filename):
    with pytest.raises(ProcessingError) as exc:
        detect_kind(filename, build_cfb_file())
    assert exc.value.code == ErrorCode.ENCRYPTED
    assert "password-protected or legacy" in exc.value.message


def test_pdf_named_docx_is_unsupported():
    with pytest.raises(ProcessingError) as exc:
        detect_kind("a.docx", build_pdf(["x"]))
    assert exc.value.code == ErrorCode.UNSUPPORTED_TYPE


@pytest.mark.parametrize("filename", ["a.pdf", "a.csv", "a.docx"])
def test_empty_head_is_empty(filename):
    with pytest.raises(ProcessingError) as exc:
        detect_kind(filename, b"")
    assert exc.value.code == ErrorCode.EMPTY


@pytest.mark.parametrize("filename", ["old.doc", "old.xls", "image.png", "noext"])
def test_unknown_extensions_are_unsupported(filename):
    with pytest.raises(ProcessingError) as exc:
        detect_kind(filename, b"whatever")
    assert exc.value.code == ErrorCode.UNSUPPORTED_TYPE


def test_legacy_doc_message_suggests_docx():
    with pytest.raises(ProcessingError) as exc:
        detect_kind("old.doc", build_cfb_file())
    assert ".docx" in exc.value.message


def test_binary_named_txt_is_unsupported():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    with pytest.raises(ProcessingError) as exc:
        detect_kind("photo.txt", png)
    assert exc.value.code == ErrorCode.UNSUPPORTED_TYPE


def test_utf16_without_bom_is_text():
    assert detect_kind("a.csv", "name,city\nAnn,Oslo\n".encode("utf-16-le")) == "csv"


def test_supported_extensions_and_content_types():
    from sources.extractors import get_extractor

    assert {"pdf", "docx", "xlsx", "csv", "txt", "image", "pptx", "odt", "odp"} <= set(SUPPORTED_EXTENSIONS.values())
    for kind in set(SUPPORTED_EXTENSIONS.values()):
        assert content_type_for(kind) and get_extractor(kind).kind == kind
    assert content_type_for("pdf") == "application/pdf"
    assert content_type_for("xlsx").endswith("spreadsheetml.sheet")
