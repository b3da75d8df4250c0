"""Registry of format extractors: ``get_extractor(kind)`` returns the one for a detected kind."""

from __future__ import annotations

import importlib

from sources.extractors.base import Extractor
from sources.extractors.detect import SUPPORTED_EXTENSIONS, content_type_for, detect_kind, is_markdown

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "content_type_for",
    "detect_kind",
    "get_extractor",
]

# Dotted paths, imported on first use: the sandboxed extraction process starts once per document
# and should load one engine (pdfium, calamine, lxml...), not all of them.
_EXTRACTORS: dict[str, str] = {
    "pdf": "sources.extractors.pdf.PdfExtractor",
    "docx": "sources.extractors.docx.DocxExtractor",
    "xlsx": "sources.extractors.xlsx.XlsxExtractor",
    "csv": "sources.extractors.csv.CsvExtractor",
    "txt": "sources.extractors.txt.TxtExtractor",
    "image": "sources.extractors.image.ImageExtractor",
    "html": "sources.extractors.html.HtmlExtractor",
    "epub": "sources.extractors.epub.EpubExtractor",
    "eml": "sources.extractors.mail.EmailExtractor",
    "mbox": "sources.extractors.mail.MboxExtractor",
    "pptx": "sources.extractors.pptx.PptxExtractor",
    "odt": "sources.extractors.odf.OdtExtractor",
    "odp": "sources.extractors.odf.OdpExtractor",
    "ods": "sources.extractors.xlsx.OdsExtractor",
    "xls": "sources.extractors.xlsx.XlsExtractor",
    "xlsb": "sources.extractors.xlsx.XlsbExtractor",
}


def _load(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def get_extractor(kind: str, *, filename: str | None = None) -> Extractor:
    """Return a fresh extractor for ``kind``; ``filename`` turns on Markdown headings for .md files."""
    try:
        path = _EXTRACTORS[kind]
    except KeyError:
        raise ValueError(f"unknown extractor kind {kind!r}") from None
    if kind == "txt":
        return _load(path)(markdown=bool(filename and is_markdown(filename)))  # type: ignore[no-any-return]
    extractor: Extractor = _load(path)()
    return extractor
