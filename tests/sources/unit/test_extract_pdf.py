from __future__ import annotations

import io

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits, ExtractionStats
from sources.extractors.pdf import PdfExtractor, _PypdfPages
from tests.fixtures.documents import (
    build_corrupt_pdf,
    build_encrypted_pdf,
    build_pdf,
    build_pdf_empty_password_encrypted,
    build_scanned_pdf,
)


def test_one_segment_per_page_with_one_based_numbers(run_extractor):
    segments, stats = run_extractor("pdf", build_pdf(["First page text", "Second page text", "Third"]))
    assert [s.metadata for s in segments] == [{"page": 1}, {"page": 2}, {"page": 3}]
    assert "First page text" in segments[0].text
    assert "Second page text" in segments[1].text
    assert stats.engine == "pdfium"
    assert (stats.units_total, stats.units_done, stats.units_with_text, stats.unit_name) == (3, 3, 3, "pages")


def test_blank_pages_are_skipped_with_a_notice(run_extractor):
    segments, stats = run_extractor("pdf", build_pdf(["Alpha", "", "Gamma"]))
    assert [s.metadata["page"] for s in segments] == [1, 3]
    assert stats.units_with_text == 2
    assert any("1 of 3 pages" in n for n in stats.notices)


def test_latin1_accents_survive(run_extractor):
    segments, _ = run_extractor("pdf", build_pdf(["Café crème à Zürich"]))
    assert "Café crème à Zürich" in segments[0].text


def test_progress_is_called_per_page(run_extractor):
    seen = []
    run_extractor("pdf", build_pdf(["a", "b", "c"]), progress=lambda st: seen.append(st.units_done))
    assert seen == [1, 2, 3]


def test_empty_user_password_opens(run_extractor):
    segments, _ = run_extractor("pdf", build_pdf_empty_password_encrypted(["Readable despite encryption"]))
    assert "Readable despite encryption" in segments[0].text


def test_real_password_is_encrypted(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("pdf", build_encrypted_pdf(["hidden"], user_password="secret"))
    assert exc.value.code == ErrorCode.ENCRYPTED
    assert "password-protected" in exc.value.message


def test_scanned_pdf_is_no_text(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("pdf", build_scanned_pdf(pages=2))
    assert exc.value.code == ErrorCode.NO_TEXT
    assert "OCR found no legible text" in exc.value.message


def test_corrupt_pdf(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("pdf", build_corrupt_pdf())
    assert exc.value.code == ErrorCode.CORRUPT


def test_too_many_pages_fails_before_extracting(run_extractor):
    gen_stats = ExtractionStats()
    gen = PdfExtractor().extract(
        io.BytesIO(build_pdf(["a", "b", "c"])), limits=ExtractionLimits(max_pages=2), stats=gen_stats
    )
    with pytest.raises(ProcessingError) as exc:
        next(gen)
    assert exc.value.code == ErrorCode.TOO_LARGE
    assert gen_stats.units_done == 0


def test_too_many_pages_truncates_when_allowed(run_extractor):
    segments, stats = run_extractor("pdf", build_pdf(["a1", "b2", "c3"]), max_pages=2, truncate=True)
    assert [s.metadata["page"] for s in segments] == [1, 2]
    assert stats.truncated and stats.notices


def test_char_cap(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("pdf", build_pdf(["x" * 50, "y" * 50]), max_chars=60)
    assert exc.value.code == ErrorCode.TOO_LARGE
    segments, stats = run_extractor("pdf", build_pdf(["x" * 50, "y" * 50]), max_chars=60, truncate=True)
    assert sum(len(s.text) for s in segments) == 60 and stats.truncated


def test_pypdf_fallback_engine_reads_pages():
    pages = _PypdfPages(io.BytesIO(build_pdf(["Fallback works"])))
    assert pages.page_count == 1
    assert "Fallback works" in pages.page_text(0)


def test_pypdf_fallback_refuses_password():
    with pytest.raises(ProcessingError) as exc:
        _PypdfPages(io.BytesIO(build_encrypted_pdf(["x"])))
    assert exc.value.code == ErrorCode.ENCRYPTED


def test_non_seekable_stream_is_spooled():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._buf = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, b):
            chunk = self._buf.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    stats = ExtractionStats()
    segments = list(PdfExtractor().extract(Pipe(build_pdf(["piped"])), limits=ExtractionLimits(), stats=stats))
    assert "piped" in segments[0].text
