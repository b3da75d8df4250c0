"""Text clean-up between extraction and chunking: safe for PostgreSQL, tidy for embeddings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import replace

from sources.extractors.base import Segment

# Removed outright: C0/C1 controls except \t \n (\r, \v and \f are handled first), DEL,
# lone surrogates (not encodable, PostgreSQL refuses them), noncharacters, BOM/zero-width
# space, soft hyphen. ZWJ/ZWNJ stay: some scripts need them.
_REMOVE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\ufeff\u200b\u00ad]+")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_NEWLINES = re.compile("\r\n?|[\x0b\x0c\u2028\u2029\x85]")
_TABS = re.compile(r" *\t[ \t]*")
_MULTI_SPACE = re.compile(r"  +")
_TRAILING = re.compile(r"[ \t]+\n")
_LEADING = re.compile(r"\n[ \t]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_LOWER = "a-zß-öø-ÿ"
_HYPHEN_BREAK = re.compile(rf"(?<=[{_LOWER}])-\n(?=[{_LOWER}])")
# Any character one of the three passes above would change: one character-class scan decides
# whether they are needed (they rarely are, and a scan that finds nothing still costs a pass).
_SPECIAL = re.compile(
    "[\r\x0b\x0c\u2028\u2029\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\ufeff\u200b\u00ad"
    "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
)


def clean_text(text: str) -> str:
    """Return ``text`` normalised for storage and embedding, without dropping words.

    NFC (not NFKC, which would rewrite ligatures, superscripts and full-width forms);
    control characters and lone surrogates removed; non-breaking and exotic spaces become
    spaces; runs of spaces collapse; lines lose leading and trailing blanks; at most one
    empty line in a row; "exam-\\nple" joins to "example" only between lowercase letters,
    so "Jean-\\nPaul" and "2019-\\n2020" keep their line break.
    """
    if not text:
        return ""
    # Every pass is guarded by a cheap containment test: most extracted text needs only a few of
    # them, and a regex scan that finds nothing still costs a full pass over the text.
    ascii_only = text.isascii()
    if _SPECIAL.search(text):
        # C1 controls (\x85) must become newlines before removal; do line endings first.
        text = _NEWLINES.sub("\n", text)
        text = _REMOVE.sub("", text)
        text = _SPACES.sub(" ", text)
    if not ascii_only and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "\t" in text:
        text = _TABS.sub("\t", text)
    if "  " in text:
        text = _MULTI_SPACE.sub(" ", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("\n", text)
    if "\n " in text or "\n\t" in text:
        text = _LEADING.sub("\n", text)
    if "-\n" in text:
        text = _HYPHEN_BREAK.sub("", text)
    if "\n\n\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def clean_segments(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Clean each segment; drop empty ones but pass their ``boundary`` to the next one."""
    pending_boundary = False
    for segment in segments:
        text = clean_text(segment.text)
        if not text:
            pending_boundary = pending_boundary or segment.boundary
            continue
        boundary = segment.boundary or pending_boundary
        pending_boundary = False
        if text != segment.text or boundary != segment.boundary:
            segment = replace(segment, text=text, boundary=boundary)
        yield segment
