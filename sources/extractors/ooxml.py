"""Safety checks for OOXML (zip) containers and a parser that cannot be abused by XML tricks."""

from __future__ import annotations

import zipfile
from typing import IO

from lxml import etree

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits
from sources.extractors.detect import CFB_SIGNATURE, legacy_office_message

# Small members compress very well legitimately (repetitive XML); only judge ratios of
# members that would inflate to something sizeable.
RATIO_MIN_SIZE = 1024 * 1024

_REQUIRED = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"}
_NAMES = {"docx": "Word", "xlsx": "Excel", "pptx": "PowerPoint"}


def check_zip(
    stream: IO[bytes], limits: ExtractionLimits, required_member: str, *, label: str | None = None
) -> zipfile.ZipFile:
    """Open ``stream`` as a zip and refuse archive bombs before anything is inflated.

    Declared sizes are trustworthy as limits: ``zipfile`` never returns more than the declared
    uncompressed size and fails the CRC check when a member lies about it. ``label`` names a
    non-OOXML container (OpenDocument, EPUB), which has no ``[Content_Types].xml``.
    """
    kind = _REQUIRED.get(required_member, "docx")
    stream.seek(0)
    if stream.read(8) == CFB_SIGNATURE and label is None:
        raise ProcessingError(ErrorCode.ENCRYPTED, legacy_office_message(kind))
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ProcessingError(ErrorCode.CORRUPT, "This file is damaged or is not a valid Office document.") from exc
    if len(infos) > limits.max_zip_entries:
        archive.close()
        raise ProcessingError(ErrorCode.TOO_LARGE, "This file contains too many parts to be processed safely.")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_MIN_SIZE and info.file_size > limits.max_compression_ratio * max(
            info.compress_size, 1
        ):
            archive.close()
            raise ProcessingError(
                ErrorCode.TOO_LARGE,
                "This file is suspiciously compressed (it would expand to a huge size) and was refused.",
            )
    if total > limits.max_uncompressed_bytes:
        archive.close()
        raise ProcessingError(ErrorCode.TOO_LARGE, "This file expands to more data than the allowed maximum.")
    names = {info.filename for info in infos}
    if label is not None:
        if required_member not in names:
            archive.close()
            raise ProcessingError(ErrorCode.CORRUPT, f"This file is not a valid {label} (its main part is missing).")
        return archive
    if required_member not in names or "[Content_Types].xml" not in names:
        archive.close()
        if kind == "docx" and "xl/workbook.xml" in names:
            message = "This file is an Excel workbook named .docx; please rename it to .xlsx."
        elif kind == "xlsx" and "word/document.xml" in names:
            message = "This file is a Word document named .xlsx; please rename it to .docx."
        else:
            name = _NAMES[kind]
            message = f"This file is not a valid {name} document (its main part is missing)."
        raise ProcessingError(ErrorCode.CORRUPT, message)
    return archive


def safe_parser_options() -> dict[str, bool]:
    """lxml options that never expand entities, load DTDs or touch the network."""
    return {
        "resolve_entities": False,
        "load_dtd": False,
        "no_network": True,
        "huge_tree": False,
        "dtd_validation": False,
    }


def refuse_doctype(head: bytes) -> None:
    """OOXML parts never carry a DOCTYPE; one is a sign of an entity attack (billion laughs, XXE)."""
    if b"<!DOCTYPE" in head.upper() or b"<\x00!\x00D\x00O\x00C\x00" in head.upper():
        raise ProcessingError(ErrorCode.CORRUPT, "This document contains unsupported XML (a DTD) and was refused.")


def parse_small_part(archive: zipfile.ZipFile, name: str) -> etree._Element | None:
    """Parse a small auxiliary part (styles, shared strings) safely; None when absent."""
    try:
        data = archive.read(name)
    except KeyError:
        return None
    refuse_doctype(data[:4096])
    parser = etree.XMLParser(**safe_parser_options())
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ProcessingError(ErrorCode.CORRUPT, "This document is damaged (invalid XML).") from exc
