"""EPUB e-books: chapters in spine order, table-of-contents and section titles as the heading path."""

from __future__ import annotations

import posixpath
import warnings
import zipfile
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import unquote

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import CharBudget, rewind
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.html import html_segments
from sources.extractors.ooxml import check_zip, parse_small_part
from sources.extractors.sections import cap_units

CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
OPF = "{http://www.idpf.org/2007/opf}"
NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
HTML_TYPES = ("application/xhtml+xml", "text/html")
LABEL = "EPUB e-book"


class EpubExtractor:
    """The navigation document (EPUB 3) and the NCX (EPUB 2) only name chapters; their text is not repeated."""

    kind = "epub"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        archive = check_zip(stream, limits, "META-INF/container.xml", label=LABEL)
        stats.engine, stats.unit_name = "lxml", "chapters"
        try:
            chapters, titles = _spine(archive)
            _refuse_drm(archive, chapters)
            chapters = cap_units(chapters, limits, stats, "This e-book", "chapters")
            budget = CharBudget(limits, stats)
            with_text = 0
            for number, member in enumerate(chapters, start=1):
                try:
                    body = archive.read(member)
                except KeyError:
                    continue
                title = titles.get(member)
                before = stats.units_with_text
                yield from html_segments(body, limits, stats, budget, path_prefix=[title] if title else [],
                                         extra={"chapter": number})
                with_text += stats.units_with_text > before
                stats.units_done = number
                if budget.exhausted:
                    break
                if progress:
                    progress(stats)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ProcessingError(ErrorCode.CORRUPT, f"This {LABEL} is damaged.") from exc
        finally:
            archive.close()
        stats.units_with_text = with_text
        if not with_text:
            raise ProcessingError(ErrorCode.EMPTY, "This e-book contains no text.")


def _resolve(base: str, href: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(href.split("#", 1)[0])))


def _spine(archive: zipfile.ZipFile) -> tuple[list[str], dict[str, str]]:
    """Members of the spine's XHTML documents in reading order, and their table-of-contents titles."""
    container = parse_small_part(archive, "META-INF/container.xml")
    rootfile = container.find(f".//{CONTAINER}rootfile") if container is not None else None
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    opf = parse_small_part(archive, opf_path) if opf_path else None
    if opf is None or opf_path is None:
        raise ProcessingError(ErrorCode.CORRUPT, f"This {LABEL} is damaged (no package document).")
    items: dict[str, tuple[str, str, str]] = {}
    for item in opf.iter(f"{OPF}item"):
        href = item.get("href") or ""
        items[item.get("id") or ""] = (_resolve(opf_path, href), item.get("media-type") or "",
                                       item.get("properties") or "")
    nav_members = {member for member, _, props in items.values() if "nav" in props.split()}
    spine = opf.find(f"{OPF}spine")
    chapters: list[str] = []
    for ref in spine.iter(f"{OPF}itemref") if spine is not None else []:
        member, media, _ = items.get(ref.get("idref") or "", ("", "", ""))
        if member and media in HTML_TYPES and member not in nav_members and member not in chapters:
            chapters.append(member)
    titles: dict[str, str] = {}
    for member in nav_members:
        titles.update(_nav_titles(archive, member))
    toc_id = spine.get("toc") if spine is not None else None
    if not titles and toc_id and toc_id in items:
        titles.update(_ncx_titles(archive, items[toc_id][0]))
    return chapters, titles


def _nav_titles(archive: zipfile.ZipFile, member: str) -> dict[str, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            soup = BeautifulSoup(archive.read(member), "lxml")
    except KeyError:
        return {}
    titles: dict[str, str] = {}
    nav: Any = soup.find("nav", attrs={"epub:type": "toc"}) or soup.find("nav")
    for anchor in nav.find_all("a", href=True) if nav is not None else []:
        target = _resolve(member, str(anchor["href"]))
        titles.setdefault(target, " ".join(anchor.get_text().split()))
    return titles


def _ncx_titles(archive: zipfile.ZipFile, member: str) -> dict[str, str]:
    root = parse_small_part(archive, member)
    titles: dict[str, str] = {}
    for point in root.iter(f"{NCX}navPoint") if root is not None else []:
        text = point.find(f"{NCX}navLabel/{NCX}text")
        content = point.find(f"{NCX}content")
        if text is not None and content is not None and content.get("src"):
            titles.setdefault(_resolve(member, content.get("src")), " ".join((text.text or "").split()))
    return titles


def _refuse_drm(archive: zipfile.ZipFile, chapters: list[str]) -> None:
    """Encrypted chapters (DRM) are unreadable; obfuscated fonts, listed in the same file, are fine."""
    if "META-INF/encryption.xml" not in archive.namelist():
        return
    listed = archive.read("META-INF/encryption.xml").decode("utf-8", "replace")
    if any(f'URI="{member}"' in listed for member in chapters):
        raise ProcessingError(ErrorCode.ENCRYPTED, "This e-book is protected by DRM and cannot be read.")
