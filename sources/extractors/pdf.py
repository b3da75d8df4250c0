"""PDF text extraction, one segment per page: pdfium first, pypdf when pdfium cannot open a file; OCR for scans."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

import pypdfium2
import pypdfium2.raw as pdfium_c
from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import ocr
from sources.extractors._common import CharBudget, rewind, truncate_notice
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

ENCRYPTED_MESSAGE = "This PDF is password-protected. Remove the password and upload it again."
CORRUPT_MESSAGE = "This PDF is damaged or could not be read."
NO_TEXT_MESSAGE = (
    "This PDF has no text layer; it looks scanned. Upload it again with OCR set to auto or always to read it."
)
ILLEGIBLE_MESSAGE = "This PDF has no text layer and OCR found no legible text on its pages."
# A page is read by OCR when its text layer is shorter than this and images cover at least
# OCR_IMAGE_COVERAGE of it (a scan with a stamped header or a page number), or when it has no
# text at all but some image. A digital page with a photo and a long caption keeps its text layer.
OCR_TEXT_CHARS = 120
OCR_IMAGE_COVERAGE = 0.3


class PdfPages(Protocol):
    """What the extractor needs from an engine; keeps engines swappable."""

    engine: str
    page_count: int
    can_render: bool

    def page_text(self, index: int) -> str: ...

    def image_coverage(self, index: int) -> float: ...

    def render(self, index: int, dpi: int, max_pixels: int) -> Image: ...

    def close(self) -> None: ...


class _PdfiumPages:
    engine = "pdfium"
    can_render = True

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

    def image_coverage(self, index: int) -> float:
        """Share of the page area under image objects (overlaps counted twice, capped at 1)."""
        page = self.doc[index]
        try:
            width, height = page.get_size()
            area = 0.0
            for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
                left, bottom, right, top = obj.get_bounds()
                area += max(0.0, min(right, width) - max(left, 0.0)) * max(0.0, min(top, height) - max(bottom, 0.0))
        finally:
            page.close()
        return min(1.0, area / (width * height)) if width * height > 0 else 0.0

    def render(self, index: int, dpi: int, max_pixels: int) -> Image:
        page = self.doc[index]
        try:
            width, height = page.get_size()
            scale = dpi / 72
            if width * height * scale * scale > max_pixels:  # a poster-sized page: lower the resolution
                scale = math.sqrt(max_pixels / (width * height))
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                return bitmap.to_pil()
            finally:
                bitmap.close()
        finally:
            page.close()

    def close(self) -> None:
        self.doc.close()


class _PypdfPages:
    engine = "pypdf"
    can_render = False

    def __init__(self, stream: IO[bytes]) -> None:
        self.reader = PdfReader(stream)
        if self.reader.is_encrypted and not self.reader.decrypt(""):
            raise ProcessingError(ErrorCode.ENCRYPTED, ENCRYPTED_MESSAGE)
        self.page_count = len(self.reader.pages)

    def page_text(self, index: int) -> str:
        return self.reader.pages[index].extract_text() or ""

    def image_coverage(self, index: int) -> float:
        return 0.0

    def render(self, index: int, dpi: int, max_pixels: int) -> Image:
        raise NotImplementedError("pypdf does not render pages")

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


@dataclass(slots=True)
class _RunState:
    failed: int = 0  # pages the engine could not read
    ocr_missing: int = 0  # pages that needed OCR while the engine was missing
    ocr_pages: int = 0  # pages read by OCR
    engine_ready: bool | None = None  # None until the first page that needs OCR
    engine_error: ProcessingError | None = None


@dataclass(slots=True)
class _Page:
    index: int
    text: str
    needs_ocr: bool = False
    failed: bool = False


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
    mode = limits.ocr if limits.ocr in ocr.OCR_MODES else "auto"
    state = _RunState()
    illegible: list[int] = []

    def read(index: int) -> _Page:
        try:
            text = pages.page_text(index)
        except ProcessingError:
            raise
        except Exception:  # a damaged page should not lose the rest of the document
            # One traceback is enough; a broken page tree can fail every page.
            logger.warning("could not read page %d with %s", index + 1, pages.engine, exc_info=state.failed == 0)
            state.failed += 1
            return _Page(index, "", failed=True)
        page = _Page(index, text)
        if mode != "never" and pages.can_render:
            page.needs_ocr = mode == "always" or _needs_ocr(pages, index, text)
        return page

    def prepare(page: _Page) -> bytes | None:
        if not page.needs_ocr or not _engine_ready(state, limits, mode):
            if page.needs_ocr:
                state.ocr_missing += 1
            return None
        return ocr.to_engine_image(pages.render(page.index, limits.ocr_dpi, limits.max_image_pixels))

    def recognise(data: bytes) -> ocr.OcrResult | None:
        try:
            return ocr.recognise(data, limits)
        except OSError:
            logger.warning("OCR failed on a page", exc_info=True)
            return None

    items = (read(index) for index in range(count))
    for page, result in ocr.ordered_parallel(items, prepare, recognise, ocr.worker_count(limits)):
        stats.units_done = page.index + 1
        text, meta = page.text, {"page": page.index + 1}
        if result is not None:
            state.ocr_pages += 1
            if not result.text.strip():
                illegible.append(page.index + 1)
            elif mode == "always" or len(result.text) > len(text.strip()):
                text, meta = result.text, {**meta, "ocr": True, "confidence": result.confidence}
        if text.strip():
            stats.units_with_text += 1
            yield Segment(budget.take(text), meta)
            if budget.exhausted:
                break
        if progress:
            progress(stats)
    if state.ocr_pages:
        stats.engine = f"{pages.engine}+tesseract"
    _finish(stats, count, state, illegible, mode)


def _needs_ocr(pages: PdfPages, index: int, text: str) -> bool:
    chars = len(text.strip())
    if chars >= OCR_TEXT_CHARS:
        return False
    try:
        coverage = pages.image_coverage(index)
    except Exception:  # a broken object list: judge by the text alone
        logger.info("could not list images of page %d", index + 1, exc_info=True)
        return chars == 0
    return coverage >= OCR_IMAGE_COVERAGE or (chars == 0 and coverage > 0)


def _engine_ready(state: _RunState, limits: ExtractionLimits, mode: str) -> bool:
    """Check for Tesseract once, on the first page that needs it.

    ``always`` fails the file at once without the engine; ``auto`` keeps reading the text layer
    and fails only if nothing at all was readable (see ``_finish``).
    """
    if state.engine_ready is None:
        try:
            ocr.check_available(limits)
        except ProcessingError as exc:
            if mode == "always":
                raise
            state.engine_ready, state.engine_error = False, exc
        else:
            state.engine_ready = True
    return state.engine_ready


def _finish(stats: ExtractionStats, count: int, state: _RunState, illegible: list[int], mode: str) -> None:
    if stats.units_with_text == 0:
        if state.failed == count:
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE)
        if state.ocr_missing and state.engine_error is not None:
            raise state.engine_error
        raise ProcessingError(ErrorCode.NO_TEXT, ILLEGIBLE_MESSAGE if state.ocr_pages else NO_TEXT_MESSAGE)
    if state.ocr_missing:
        stats.notices.append(
            f"{state.ocr_missing} scanned pages were skipped because OCR (Tesseract) is not installed."
        )
    if illegible:
        shown = ", ".join(str(n) for n in illegible[:20]) + (" ..." if len(illegible) > 20 else "")
        stats.notices.append(f"OCR found no legible text on {len(illegible)} pages ({shown}).")
    empty = stats.units_done - stats.units_with_text - len(illegible)
    if empty > 0:
        hint = "" if mode != "never" else " (OCR was turned off for this upload)"
        stats.notices.append(f"{empty} of {stats.units_done} pages had no text and were skipped{hint}.")
