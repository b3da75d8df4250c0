"""The small interface every format extractor implements: a stream in, text segments out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text and where it came from.

    ``metadata`` keys by format: PDF ``{"page": n}``; DOCX ``{"heading_path": [...]}``;
    XLSX/CSV ``{"sheet": name, "row_start": i, "row_end": j}``; web pages
    ``{"url": ..., "title": ..., "heading_path": [...]}``.
    ``boundary`` asks the chunker not to merge this segment with the previous one
    (a new sheet, a new heading section, a new page of a website).
    """

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    boundary: bool = False


@dataclass(slots=True)
class ExtractionLimits:
    max_pages: int = 2000
    max_rows: int = 1_000_000
    max_chars: int = 200_000_000
    max_uncompressed_bytes: int = 500 * 1024 * 1024
    max_compression_ratio: int = 200
    max_zip_entries: int = 10_000
    truncate: bool = False  # True: stop at a cap with a notice; False: fail with too_large
    max_image_pixels: int = 60_000_000  # per image or page bitmap; more is a decompression bomb
    # OCR options travel with the limits: they are what the sandboxed child is told about the run.
    ocr: str = "auto"  # "auto": pages without a usable text layer; "always"; "never"
    ocr_languages: str = "eng"  # Tesseract's -l argument, e.g. "eng+deu"
    ocr_command: str = "tesseract"
    ocr_dpi: int = 300
    ocr_workers: int = 0  # engine processes at once; 0 = one per available core
    # XLSX whose largest worksheet part inflates to more bytes than this: streamed (openpyxl read-only)
    stream_sheets_over_bytes: int = 64 * 1024 * 1024


@dataclass(slots=True)
class ExtractionStats:
    """Filled in by the extractor while it runs; read by the pipeline for status and ETA."""

    units_total: int | None = None  # pages / rows when known in advance
    units_done: int = 0
    unit_name: str = "pages"  # "pages", "rows", "paragraphs", "lines"
    units_with_text: int = 0
    sheets: int = 0
    truncated: bool = False
    notices: list[str] = field(default_factory=list)
    engine: str = ""


ProgressCallback = Callable[[ExtractionStats], None]


class Extractor(Protocol):
    kind: str

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        """Yield segments in document order; raise ``ProcessingError`` for bad input.

        ``progress`` is called every unit or so; it may raise to cancel the run.
        """
        ...
