"""Images (PNG, JPEG, TIFF, WebP, BMP, GIF) read by OCR, one segment per frame of a multi-page TIFF."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import IO, Any

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import ocr
from sources.extractors._common import CharBudget, rewind, truncate_notice
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment

logger = logging.getLogger(__name__)

CORRUPT_MESSAGE = "This image is damaged or could not be read."
# Formats Pillow may open for us; anything else named .png is refused rather than decoded.
ALLOWED_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP", "DIB", "GIF")
# Frames of an animated GIF or WebP repeat one picture: only multi-page TIFFs are read page by page.
MULTI_PAGE_FORMATS = ("TIFF",)


def _too_large(pixels: int, cap: int) -> ProcessingError:
    return ProcessingError(
        ErrorCode.TOO_LARGE,
        f"This image has {pixels:,} pixels; the maximum is {cap:,}. It may be a decompression bomb; "
        "scan at a lower resolution (300 dpi is plenty).",
    )


class ImageExtractor:
    kind = "image"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        stats.unit_name = "pages"
        stats.engine = "tesseract"
        if limits.ocr == "never":
            raise ProcessingError(ErrorCode.NO_TEXT, "Images are read by OCR, which was turned off for this upload.")
        ocr.check_available(limits)
        # Pillow's own bomb check warns at the cap and raises at twice it; we refuse at the cap,
        # before any pixel is decoded (open() reads only the header).
        Image.MAX_IMAGE_PIXELS = None  # process-wide, but this runs in the one-document extraction child
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(stream, formats=ALLOWED_FORMATS)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
        with image:
            frames = getattr(image, "n_frames", 1) if image.format in MULTI_PAGE_FORMATS else 1
            if frames > limits.max_pages:
                if not limits.truncate:
                    raise ProcessingError(
                        ErrorCode.TOO_LARGE, f"This image has {frames} pages; the maximum is {limits.max_pages}."
                    )
                truncate_notice(stats, f"Only the first {limits.max_pages} of {frames} pages were imported.")
                frames = limits.max_pages
            stats.units_total = frames
            yield from _frames(image, frames, limits, stats, progress)


def _frames(
    image: Any, frames: int, limits: ExtractionLimits, stats: ExtractionStats, progress: ProgressCallback | None
) -> Iterator[Segment]:
    budget = CharBudget(limits, stats)
    illegible: list[int] = []

    def prepare(index: int) -> bytes:
        frame = ImageSequence.Iterator(image)[index]
        width, height = frame.size
        if width * height > limits.max_image_pixels:
            raise _too_large(width * height, limits.max_image_pixels)
        try:
            upright = ImageOps.exif_transpose(frame)  # phone photos are stored sideways plus a tag
            upright.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ProcessingError(ErrorCode.CORRUPT, CORRUPT_MESSAGE) from exc
        if upright.mode in ("RGBA", "LA", "P", "PA"):
            # Transparent pixels are often black: text on them would vanish in grayscale.
            background = Image.new("RGB", upright.size, "white")
            rgba = upright.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            upright = background
        return ocr.to_engine_image(upright)

    for index, result in ocr.ordered_parallel(
        range(frames), prepare, lambda data: ocr.recognise(data, limits), ocr.worker_count(limits)
    ):
        stats.units_done = index + 1
        if result.text.strip():
            stats.units_with_text += 1
            meta = {"page": index + 1, "ocr": True, "confidence": result.confidence}
            yield Segment(budget.take(result.text), meta, index == 0)
            if budget.exhausted:
                break
        else:
            illegible.append(index + 1)
        if progress:
            progress(stats)
    if not stats.units_with_text:
        raise ProcessingError(ErrorCode.NO_TEXT, "OCR found no legible text in this image.")
    if illegible:
        stats.notices.append(f"OCR found no legible text on {len(illegible)} of {frames} pages.")
