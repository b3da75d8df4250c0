"""PDF text extraction, one segment per page: pdfium first, pypdf when pdfium cannot open a file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO, Protocol

import pypdfium2
import pypdfium2.raw as pdfium_c
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind, truncate_notice
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment

logger = logging.getLogger(__name__)

ENCRYPTED_MESSAGE = "This PDF is password-protected. Remove the password and upload it again."
CORRUPT_MESSAGE = "This PDF is damaged or could not be read."
NO_TEXT_MESSAGE = "This PDF has no text layer; it looks scanned. OCR is not supported."


class PdfPages(Protocol):
    """What the extractor needs from an engine; keeps engines swappable."""

    engine: str
    page_count: int

    def page_text(self, index: int) -> str: ...

    def close(self) -> None: ...


class _PdfiumPages:
    engine = "pdfium"

    def __init__(self, stream: IO[bytes]) -> None:
        # pdfium reads through the file object on demand, so the PDF is never copied into Python.
        # A None password makes pdfium try the empty one, which opens "owner-password only" PDFs.
        self.doc = pypdfium2.PdfDocument(stream)
        self.page_count = len(self.doc)

    def page_text(self, index: int) -> str:
        page = self.doc[index]
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
        finally:
            page.close()
        # pdfium replaces a hyphen that ends a line with U+FFFE (or U+0002) and drops the line
        # break; restoring "-\n" lets cleaning decide whether to join the word.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\ufffe" in text or "\x02" in text:
            text = text.replace("\ufffe", "-\n").replace("\x02", "-\n")
        return text

    def close(self) -> None:
        self.doc.close()


class _PypdfPages:
    engine = "pypdf"

    def __init__(self, stream: IO[bytes]) -> None:
        self.reader = PdfReader(stream)
        if self.reader.is_encrypted and not self.reader.decrypt(""):
            raise ProcessingError(ErrorCode.ENCRYPTED, ENCRYPTED_MESSAGE)
        self.page_count = len(self.reader.pages)

    def page_text(self, index: int) -> str:
        return self.reader.pages[index].extract_text() or ""

    def close(self) -> None:
        close = getattr(self.reader, "close", None)
        if close:
            close()


def open_pdf(stream: IO[bytes]) -> PdfPages:
    """Open with the fastest engine that can read the file; map failures to error codes."""
    try:
        return _PdfiumPages(stream)
    except pypdfium2.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise ProcessingError(ErrorCode.ENCRYPTED, ENCRYPTED_MESSAGE) from exc
        logger.info("pdfium could not open the PDF (%s); trying pypdf", exc)
    stream.seek(0)
    try:
        return _PypdfPages(stream)
    except ProcessingError:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        raise ProcessingError(ErrorCode.ENCRYPTED, ENCRYPTED_MESSAGE) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc


class PdfExtractor:
    kind = "pdf"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        pages = open_pdf(stream)
        try:
            yield from _pages(pages, limits, stats, progress)
        finally:
            pages.close()


def _pages(
    pages: PdfPages,
    limits: ExtractionLimits,
    stats: ExtractionStats,
    progress: ProgressCallback | None,
) -> Iterator[Segment]:
    stats.engine = pages.engine
    stats.unit_name = "pages"
    count = pages.page_count
    if count == 0:
        raise ProcessingError(ErrorCode.EMPTY, "This PDF has no pages.")
    if count > limits.max_pages:
        if not limits.truncate:
            raise ProcessingError(
                ErrorCode.TOO_LARGE, f"This PDF has {count} pages; the maximum is {limits.max_pages}."
            )
        truncate_notice(stats, f"Only the first {limits.max_pages} of {count} pages were imported.")
        count = limits.max_pages
    stats.units_total = count
    budget = CharBudget(limits, stats)
    failed = 0
    for index in range(count):
        try:
            text = pages.page_text(index)
        except ProcessingError:
            raise
        except Exception:  # a damaged page should not lose the rest of the document
            # One traceback is enough; a broken page tree can fail every page.
            logger.warning("could not read page %d with %s", index + 1, pages.engine, exc_info=failed == 0)
            failed += 1
            text = ""
        stats.units_done = index + 1
        if text.strip():
            stats.units_with_text += 1
            yield Segment(budget.take(text), {"page": index + 1})
            if budget.exhausted:
                break
        if progress:
            progress(stats)
    if stats.units_with_text == 0:
        if failed == count:
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE)
        raise ProcessingError(ErrorCode.NO_TEXT, NO_TEXT_MESSAGE)
    empty = stats.units_done - stats.units_with_text
    if empty:
        stats.notices.append(f"{empty} of {stats.units_done} pages had no text layer and were skipped.")
