"""Decide which extractor handles an upload: the extension claims a kind, the bytes must agree."""

from __future__ import annotations

import os

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.encoding import looks_like_text

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # local file header; empty archive
CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: legacy .doc/.xls and encrypted OOXML
HEAD_SIZE = 4096
OOXML_KINDS = ("docx", "xlsx", "pptx")
ZIP_KINDS = (*OOXML_KINDS, "xlsb", "odt", "odp", "ods", "epub")

SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".txt": "txt",
    ".md": "txt",
    ".markdown": "txt",
    ".pptx": "pptx",
    ".odp": "odp",
    ".odt": "odt",
    ".ods": "ods",
    ".xls": "xls",
    ".xlsb": "xlsb",
    ".epub": "epub",
    ".eml": "eml",
    ".mbox": "mbox",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".jpe": "image",
    ".tif": "image",
    ".tiff": "image",
    ".webp": "image",
    ".bmp": "image",
    ".dib": "image",
    ".gif": "image",
}

IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF87a", b"GIF89a",
)

_CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "txt": "text/plain",
    "image": "image/*",
    "html": "text/html",
    "epub": "application/epub+zip",
    "eml": "message/rfc822",
    "mbox": "application/mbox",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "xls": "application/vnd.ms-excel",
    "xlsb": "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
}
_IMAGE_TYPES = {
    b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"II*\x00": "image/tiff", b"MM\x00*": "image/tiff",
    b"BM": "image/bmp", b"GIF8": "image/gif", b"RIFF": "image/webp",
}

SUPPORTED_HINT = (
    "Supported types are PDF, DOCX, XLSX, XLS, XLSB, PPTX, ODT, ODP, ODS, EPUB, HTML, EML, MBOX, CSV, TXT, "
    "Markdown and images (PNG, JPEG, TIFF, WebP, BMP, GIF)."
)
_LEGACY_HINTS = {
    ".doc": "Word 97-2003 (.doc) files are not supported; please save it as .docx.",
}


def content_type_for(kind: str, head: bytes = b"") -> str:
    if kind == "image":
        return next((t for sig, t in _IMAGE_TYPES.items() if head.startswith(sig)), "application/octet-stream")
    return _CONTENT_TYPES[kind]


def is_image(head: bytes) -> bool:
    return head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def extension_of(filename: str) -> str:
    return os.path.splitext(filename or "")[1].lower()


def is_markdown(filename: str) -> bool:
    return extension_of(filename) in (".md", ".markdown")


def detect_kind(filename: str, head: bytes) -> str:
    """Return "pdf", "docx", "xlsx", "csv" or "txt", or raise ``ProcessingError``.

    ``head`` is the first bytes of the upload (``HEAD_SIZE`` is plenty). Content is checked
    only as far as the signature; the extractor does the deep checks.
    """
    ext = extension_of(filename)
    kind = SUPPORTED_EXTENSIONS.get(ext)
    if kind is None:
        hint = _LEGACY_HINTS.get(ext, SUPPORTED_HINT)
        shown = ext or "without an extension"
        raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, f"Files {shown} are not supported. {hint}")
    if not head:
        raise ProcessingError(ErrorCode.EMPTY, "The file is empty.")
    if kind == "pdf":
        if b"%PDF-" not in head[:1024]:
            raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, "This file is named .pdf but is not a PDF.")
    elif kind == "xls":
        if head.startswith(ZIP_SIGNATURES):
            return "xlsx"  # an .xlsx saved with the old extension, as some exports do
        if not head.startswith(CFB_SIGNATURE):
            raise ProcessingError(
                ErrorCode.UNSUPPORTED_TYPE, "This file is named .xls but is not an Excel workbook; "
                "if it was exported by a website, save it as .csv or .xlsx."
            )
    elif kind in ZIP_KINDS:
        if head.startswith(CFB_SIGNATURE) and kind in OOXML_KINDS:
            raise ProcessingError(ErrorCode.ENCRYPTED, legacy_office_message(kind))
        if not head.startswith(ZIP_SIGNATURES):
            raise ProcessingError(
                ErrorCode.UNSUPPORTED_TYPE,
                f"This file is named {ext} but is not a valid {_office_name(kind)} document.",
            )
    elif kind == "mbox":
        if not head.startswith(b"From "):
            raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, "This file is named .mbox but is not a mailbox.")
    elif kind == "image":
        if not is_image(head):
            raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, f"This file is named {ext} but is not an image.")
    elif not looks_like_text(head):
        raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, f"This file is named {ext} but does not contain text.")
    return kind


def _office_name(kind: str) -> str:
    return {"docx": "Word", "xlsx": "Excel", "xlsb": "Excel", "pptx": "PowerPoint"}.get(kind, "OpenDocument")


def legacy_office_message(kind: str) -> str:
    legacy, modern = {"docx": (".doc", ".docx"), "pptx": (".ppt", ".pptx")}.get(kind, (".xls", ".xlsx"))
    return (
        f"This file is a password-protected or legacy {_office_name(kind)} file. Password-protected "
        f"files and the old {legacy} format are not supported; remove the password and save it as {modern}."
    )
