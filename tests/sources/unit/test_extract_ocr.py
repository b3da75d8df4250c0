"""OCR of scanned PDFs (whole, mixed, per-upload mode) and of images, against the real Tesseract."""

from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import ocr
from tests.fixtures import scans
from tests.fixtures.documents import build_scanned_pdf

PAGE_ONE = ["Quarterly revenue grew strongly", "Invoice 4711 was paid in March"]
PAGE_TWO = ["Second scanned page mentions penguins"]
DIGITAL = "A digital page about the annual general meeting."


def _words(segments) -> str:
    return " ".join(s.text for s in segments)


def test_scanned_pdf_pages_are_read_with_page_and_confidence(run_extractor):
    segments, stats = run_extractor("pdf", scans.build_scanned_text_pdf([PAGE_ONE, PAGE_TWO]))

    assert [s.metadata["page"] for s in segments] == [1, 2]
    assert all(s.metadata["ocr"] is True and 60 < s.metadata["confidence"] <= 100 for s in segments)
    assert "Quarterly revenue grew strongly" in segments[0].text and "4711" in segments[0].text
    assert "penguins" in segments[1].text
    assert (stats.units_done, stats.units_with_text, stats.engine) == (2, 2, "pdfium+tesseract")


def test_mixed_pdf_reads_only_the_scanned_page_by_ocr(run_extractor):
    data = scans.build_scanned_text_pdf([[], PAGE_TWO], text_pages={0: DIGITAL})

    segments, stats = run_extractor("pdf", data)

    assert segments[0].metadata == {"page": 1}
    assert "annual general meeting" in segments[0].text
    assert segments[1].metadata["ocr"] is True and segments[1].metadata["page"] == 2
    assert "penguins" in segments[1].text


def test_ocr_never_keeps_the_old_no_text_failure(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("pdf", scans.build_scanned_text_pdf([PAGE_ONE]), ocr="never")
    assert err.value.code == ErrorCode.NO_TEXT and "OCR" in err.value.message


def test_ocr_always_reads_digital_pages_by_ocr_too(run_extractor):
    data = scans.build_scanned_text_pdf([[]], text_pages={0: "Digital text about budgets and forecasts."})

    segments, _ = run_extractor("pdf", data, ocr="always")

    assert segments[0].metadata["ocr"] is True
    assert "budgets" in segments[0].text


def test_page_without_legible_text_is_a_notice_not_a_failure(run_extractor):
    data = scans.build_scanned_text_pdf([PAGE_ONE, [""]])

    segments, stats = run_extractor("pdf", data)

    assert [s.metadata["page"] for s in segments] == [1]
    assert any("no legible text on 1 pages (2)" in n for n in stats.notices)


def test_scan_with_only_shapes_fails_no_text(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("pdf", build_scanned_pdf(1))
    assert err.value.code == ErrorCode.NO_TEXT


def test_missing_tesseract_is_ocr_unavailable_with_install_hint(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("pdf", scans.build_scanned_text_pdf([PAGE_ONE]), ocr_command="/nonexistent/tesseract")
    assert err.value.code == ErrorCode.OCR_UNAVAILABLE
    assert "apt-get install tesseract-ocr" in err.value.message


def test_missing_language_names_the_package(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("image", scans.build_image(PAGE_ONE), ocr_languages="eng+zzz")
    assert err.value.code == ErrorCode.OCR_UNAVAILABLE and "tesseract-ocr-zzz" in err.value.message


def test_mixed_pdf_without_tesseract_keeps_digital_pages_with_a_notice(run_extractor):
    data = scans.build_scanned_text_pdf([[], PAGE_TWO], text_pages={0: DIGITAL})

    segments, stats = run_extractor("pdf", data, ocr_command="/nonexistent/tesseract")

    assert [s.metadata["page"] for s in segments] == [1]
    assert any("not installed" in n for n in stats.notices)


def test_progress_reported_per_ocr_page(run_extractor):
    seen = []
    run_extractor("pdf", scans.build_scanned_text_pdf([PAGE_ONE, PAGE_TWO, PAGE_TWO]),
                  progress=lambda s: seen.append((s.units_done, s.units_total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "a.png"), ("JPEG", "a.jpg"), ("WEBP", "a.webp"),
                                           ("BMP", "a.bmp"), ("GIF", "a.gif"), ("TIFF", "a.tif")])
def test_each_image_format_is_read(run_extractor, fmt, name):
    segments, stats = run_extractor("image", scans.build_image(PAGE_ONE, fmt))

    assert "Quarterly revenue grew strongly" in _words(segments)
    assert segments[0].metadata["ocr"] is True and segments[0].metadata["page"] == 1
    assert stats.engine == "tesseract"


def test_every_page_of_a_multipage_tiff(run_extractor):
    segments, stats = run_extractor("image", scans.build_multipage_tiff([PAGE_ONE, PAGE_TWO]))

    assert [s.metadata["page"] for s in segments] == [1, 2]
    assert "penguins" in segments[1].text
    assert stats.units_total == 2


def test_exif_orientation_is_honoured(run_extractor):
    segments, _ = run_extractor("image", scans.build_rotated_jpeg(PAGE_ONE))
    assert "Quarterly revenue grew strongly" in _words(segments)


def test_transparent_png_is_flattened_on_white(run_extractor):
    segments, _ = run_extractor("image", scans.build_transparent_png(PAGE_ONE))
    assert "Quarterly revenue" in _words(segments)


def test_pixel_bomb_is_too_large_before_decoding(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("image", scans.build_pixel_bomb_png())
    assert err.value.code == ErrorCode.TOO_LARGE


def test_tiff_with_too_many_pages_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("image", scans.build_multipage_tiff([PAGE_TWO] * 3), max_pages=2)
    assert err.value.code == ErrorCode.TOO_LARGE


def test_garbage_named_as_image_is_corrupt(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert err.value.code == ErrorCode.CORRUPT


def test_tsv_parsing_groups_lines_and_paragraphs():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tHello", "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t80\tworld",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t70\tnext", "4\t1\t2\t1\t1\t0\t0\t0\t1\t1\t-1\t",
        "5\t1\t2\t1\t1\t1\t0\t0\t1\t1\t60\tpara",
    ]
    result = ocr.parse_tsv("\n".join([header, *rows]))
    assert result.text == "Hello world\nnext\n\npara"
    assert (result.confidence, result.words) == (75.0, 4)
