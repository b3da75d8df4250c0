"""Turn an HTML (or plain-text) web page into metadata, links and heading-aware text segments."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from bs4.element import CData, Declaration, Doctype, ProcessingInstruction
from charset_normalizer import from_bytes

from sources.extractors.base import Segment

_DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "form",
    "button", "select", "input", "textarea", "object", "embed", "canvas", "dialog", "head",
)  # fmt: skip
_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "dialog", "alertdialog"})
_BANNER_RE = re.compile(r"cookie|consent|gdpr", re.IGNORECASE)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "pre",
        "li",
        "dd",
        "dt",
        "dl",
        "figure",
        "figcaption",
        "address",
        "hr",
        "details",
        "summary",
        "tr",
        "td",
        "th",
        "caption",
        "header",
        "footer",
        "fieldset",
        "legend",
        "center",
        "body",
        "html",
    ]
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_WS_RE = re.compile(r"\s+")
_SKIPPED_STRINGS = (Comment, CData, Declaration, Doctype, ProcessingInstruction)
# WHATWG: these labels mean windows-1252 on the web; decoding them as strict latin-1 mangles € and quotes.
_ENCODING_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
                     "ascii": "cp1252", "iso8859-1": "cp1252"}  # fmt: skip
_BANNER_MAX_CHARS = 3000


@dataclass(slots=True)
class PageContent:
    url: str
    title: str = ""
    description: str = ""
    language: str = ""
    canonical_url: str | None = None
    links: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    encoding: str = "utf-8"
    noindex: bool = False
    nofollow: bool = False

    @property
    def text(self) -> str:
        return "\n\n".join(segment.text for segment in self.segments)


def decode_body(body: bytes, http_encoding: str | None) -> tuple[str, str]:
    """Decode with BOM, then the HTTP charset, then <meta charset>, then detection; returns (text, codec)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace"), codec
    candidates: list[str | None] = [http_encoding]
    match = _META_CHARSET_RE.search(body[:4096])
    candidates.append(match.group(1).decode("ascii", "ignore") if match else None)
    for candidate in candidates:
        found = _lookup(candidate)
        if found:
            return body.decode(found, errors="replace"), found
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    codec = _lookup(_detect(body[:200_000])) or "cp1252"
    return body.decode(codec, errors="replace"), codec


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's guess, but windows-1252 wins a tie: it is by far the web's commonest legacy codec."""
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if match.chaos <= best.chaos and "cp1252" in (match.encoding, *match.could_be_from_charset):
            return "cp1252"
    return best.encoding


def _lookup(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _ENCODING_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def clean_url(href: str, base: str) -> str | None:
    """Absolute http(s) URL without fragment, or None for mailto:, javascript: and the like."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _norm(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


def parse_html(body: bytes, *, url: str, http_encoding: str | None) -> PageContent:
    text, codec = decode_body(body, http_encoding)
    soup = BeautifulSoup(text, "lxml")
    base_tag = soup.find("base", href=True)
    base = urljoin(url, str(base_tag["href"])) if isinstance(base_tag, Tag) else url
    page = PageContent(url=url, encoding=codec)
    page.title = _title(soup)
    page.description = _meta(soup, "description") or _meta(soup, "og:description", attr="property")
    html_tag = soup.find("html")
    if isinstance(html_tag, Tag) and html_tag.get("lang"):
        page.language = str(html_tag["lang"]).strip()
    else:
        page.language = _meta(soup, "content-language", attr="http-equiv")
    robots = _meta(soup, "robots").lower()
    page.noindex, page.nofollow = "noindex" in robots or "none" in robots, "nofollow" in robots or "none" in robots
    canonical = soup.find("link", rel=lambda v: v is not None and "canonical" in str(v).lower(), href=True)
    if isinstance(canonical, Tag):
        page.canonical_url = clean_url(str(canonical["href"]), base)
    # Links come from the whole page: navigation is where a crawler finds the other pages.
    seen: set[str] = set()
    for anchor in soup.find_all(["a", "area"], href=True):
        link = clean_url(str(anchor["href"]), base)
        if link and link not in seen:
            seen.add(link)
            page.links.append(link)
    _strip_boilerplate(soup)
    root = _main_root(soup)
    builder = _SegmentBuilder(url=url, title=page.title)
    if root is not None:
        builder.walk(root)
    page.segments = builder.finish()
    return page


def parse_plain_text(body: bytes, url: str, encoding: str | None) -> PageContent:
    text, codec = decode_body(body, encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [_norm(p) for p in re.split(r"\n\s*\n", text)]
    joined = "\n\n".join(p for p in paragraphs if p)
    title = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    segments = [Segment(joined, {"url": url, "title": title, "heading_path": []}, boundary=True)] if joined else []
    return PageContent(url=url, title=title, segments=segments, encoding=codec)


def _title(soup: BeautifulSoup) -> str:
    if soup.title and soup.title.get_text(strip=True):
        return _norm(soup.title.get_text())
    og = _meta(soup, "og:title", attr="property")
    if og:
        return og
    h1 = soup.find("h1")
    return _norm(h1.get_text(" ")) if h1 else ""


def _meta(soup: BeautifulSoup, name: str, *, attr: str = "name") -> str:
    tag = soup.find("meta", attrs={attr: lambda v: v is not None and v.lower() == name, "content": True})
    return _norm(str(tag["content"])) if isinstance(tag, Tag) else ""


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    if _HIDDEN_STYLE_RE.search(str(tag.get("style", ""))):
        return True
    return str(tag.get("role", "")).lower() in _DROP_ROLES


def _is_banner(tag: Tag) -> bool:
    """A cookie/consent banner: matched by id/class, but never a big block or one holding the page title."""
    if tag.name in ("html", "body", "main", "article"):
        return False
    classes: object = tag.get("class") or []
    names = [str(c) for c in classes] if isinstance(classes, list) else [str(classes)]
    marker = " ".join([str(tag.get("id", "")), *names])
    if not _BANNER_RE.search(marker):
        return False
    return tag.find("h1") is None and len(tag.get_text(" ", strip=True)) <= _BANNER_MAX_CHARS


def _strip_boilerplate(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    # An article's own <header> holds its title; the site-wide one is boilerplate.
    for tag in soup.find_all(["header", "footer"]):
        if tag.name == "footer" or tag.find_parent(["article", "main"]) is None:
            tag.decompose()
    for tag in soup.find_all(True):
        # Not ``tag.decomposed``: for a live tag that property's missing ``_decomposed`` attribute
        # falls through to ``Tag.__getattr__``, a subtree search per tag (quadratic on big pages).
        if vars(tag).get("_decomposed", False):
            continue
        if _is_hidden(tag) or _is_banner(tag):
            tag.decompose()


def _main_root(soup: BeautifulSoup) -> Tag | None:
    main = soup.find("main") or soup.find(role="main")
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _inline_text(tag: Tag) -> str:
    """Text of a cell/heading/item: block children get a space between them, inline ones none."""
    parts: list[str] = []

    def visit(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIPPED_STRINGS):
                    parts.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "br" or child.name in _BLOCK_TAGS:
                    parts.append(" ")
                visit(child)
                if child.name in _BLOCK_TAGS:
                    parts.append(" ")

    visit(tag)
    return _norm("".join(parts))


class _SegmentBuilder:
    """Collects lines under the current heading path; each heading starts a new segment."""

    def __init__(self, *, url: str, title: str) -> None:
        self.url = url
        self.title = title
        self.path: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self.inline: list[str] = []
        self.segments: list[Segment] = []
        self.heading_line = False

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIPPED_STRINGS):
                    self.inline.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                self.heading(_HEADINGS[name], _inline_text(child))
            elif name == "table":
                self.flush_inline()
                self.lines.extend(_table_lines(child))
            elif name in ("ul", "ol"):
                self.flush_inline()
                self.lines.extend(_list_lines(child, 0))
            elif name == "br":
                self.flush_inline()
            elif name == "pre":
                self.flush_inline()
                self.lines.extend(line.rstrip() for line in child.get_text().splitlines() if line.strip())
            elif name in _BLOCK_TAGS:
                self.flush_inline()
                self.walk(child)
                self.flush_inline()
            else:
                self.walk(child)

    def flush_inline(self) -> None:
        line = _norm("".join(self.inline))
        self.inline = []
        if line:
            self.lines.append(line)

    def heading(self, level: int, text: str) -> None:
        self.flush_segment()
        if not text:
            return
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, text)]
        self.lines = [text]
        self.heading_line = True

    def flush_segment(self) -> None:
        """Emit the current section; a heading with no text under it lives on in ``heading_path``."""
        self.flush_inline()
        if len(self.lines) > (1 if self.heading_line else 0):
            metadata = {"url": self.url, "title": self.title, "heading_path": [t for _, t in self.path]}
            self.segments.append(Segment("\n".join(self.lines), metadata, boundary=True))
        self.lines = []
        self.heading_line = False

    def finish(self) -> list[Segment]:
        headings_only = [t for _, t in self.path]
        self.flush_segment()
        if not self.segments and headings_only:
            metadata = {"url": self.url, "title": self.title, "heading_path": headings_only}
            self.segments.append(Segment("\n".join(headings_only), metadata, boundary=True))
        return self.segments


def _table_lines(table: Tag) -> list[str]:
    rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
    lines: list[str] = []
    caption = table.find("caption")
    if isinstance(caption, Tag) and _inline_text(caption):
        lines.append(_inline_text(caption))
    headers: list[str] = []
    for row in rows:
        cells = row.find_all(["th", "td"], recursive=False)
        values = [_inline_text(cell) for cell in cells]
        if not any(values):
            continue
        if not headers and cells and all(cell.name == "th" for cell in cells):
            headers = values
            continue
        if headers and len(headers) == len(values):
            pairs = [f"{h}: {v}" if h else v for h, v in zip(headers, values, strict=True) if v]
            lines.append("; ".join(pairs))
        else:
            lines.append("; ".join(v for v in values if v))
    if headers and len(lines) == (1 if isinstance(caption, Tag) and _inline_text(caption) else 0):
        lines.append("; ".join(headers))  # a header-only table still says something
    return lines


def _list_lines(lst: Tag, depth: int) -> list[str]:
    lines: list[str] = []
    for item in lst.find_all("li", recursive=False):
        nested = [child for child in item.find_all(["ul", "ol"]) if child.find_parent("li") is item]
        for child in nested:
            child.extract()
        text = _inline_text(item)
        if text:
            lines.append(f"{'  ' * depth}- {text}")
        for child in nested:
            lines.extend(_list_lines(child, depth + 1))
    return lines
