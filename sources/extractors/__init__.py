"""Registry of format extractors: ``get_extractor(kind)`` returns the one for a detected kind."""

from __future__ import annotations

from sources.extractors.base import Extractor
from sources.extractors.csv import CsvExtractor
from sources.extractors.detect import SUPPORTED_EXTENSIONS, content_type_for, detect_kind, is_markdown
from sources.extractors.docx import DocxExtractor
from sources.extractors.pdf import PdfExtractor
from sources.extractors.txt import TxtExtractor
from sources.extractors.xlsx import XlsxExtractor

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "content_type_for",
    "detect_kind",
    "get_extractor",
]

_EXTRACTORS: dict[str, type] = {
    "pdf": PdfExtractor,
    "docx": DocxExtractor,
    "xlsx": XlsxExtractor,
    "csv": CsvExtractor,
    "txt": TxtExtractor,
}


def get_extractor(kind: str, *, filename: str | None = None) -> Extractor:
    """Return a fresh extractor for ``kind``; ``filename`` turns on Markdown headings for .md files."""
    try:
        cls = _EXTRACTORS[kind]
    except KeyError:
        raise ValueError(f"unknown extractor kind {kind!r}") from None
    if cls is TxtExtractor:
        return TxtExtractor(markdown=bool(filename and is_markdown(filename)))
    extractor: Extractor = cls()
    return extractor
