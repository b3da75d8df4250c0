"""Split text and extracted segments into chunks of bounded size for embedding."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sources.extractors.base import Segment

_SENTENCE_MARKS = (".", "!", "?", "。", "！", "？")
_WHITESPACE = " \t\n\r\x0b\x0c"


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it is stored: its text and merged source metadata."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _validate(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError("chunk_overlap must be >= 0 and smaller than chunk_size")


def split_text(text: str, chunk_size: int = 1000, chunk_overlap: int = 150) -> list[str]:
    """Split ``text`` into chunks of at most ``chunk_size`` characters; see ``split_spans``."""
    return _split(text, chunk_size, chunk_overlap, False)


def split_spans(text: str, chunk_size: int = 1000, chunk_overlap: int = 150) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` offsets of the chunks ``split_text`` produces.

    Guarantees, for spans ``(s_i, e_i)``:
    * ``0 < e_i - s_i <= chunk_size`` and ``text[s_i:e_i]`` has no leading/trailing whitespace;
    * ``s_i`` and ``e_i`` strictly increase (order is kept);
    * coverage: ``s_{i+1} <= e_i`` (overlap) or ``text[e_i:s_{i+1}]`` is whitespace, and the
      text before ``s_0`` and after the last ``e`` is whitespace; so no character other than
      whitespace at a cut is ever lost;
    * ``e_i - s_{i+1} <= chunk_overlap``, and an overlap starts just after whitespace (a word
      boundary); when the overlap window has no whitespace there is no overlap.

    A greedy scan: each window ``[start, start + chunk_size]`` is cut at the last paragraph
    break, else line break (both only in the window's second half), else sentence end (also
    second half), else space or tab, else hard at the window end. Searches are C-level
    ``str.rfind`` calls, mostly for single characters, so the split is O(n).
    """
    return _split(text, chunk_size, chunk_overlap, True)


def _split(text: str, chunk_size: int, chunk_overlap: int, as_spans: bool) -> list[Any]:
    _validate(chunk_size, chunk_overlap)
    n = len(text)
    out: list[Any] = []
    append = out.append
    rfind = text.rfind
    find = text.find
    ws = _WHITESPACE
    marks = [m for m in _SENTENCE_MARKS if m in text]
    other_spaces = [c for c in ("\n", "\t") if c in text]
    has_tab = "\t" in text
    half = chunk_size // 2
    start = 0
    while start < n and text[start] in ws:
        start += 1
    prev_end = 0
    while start < n:
        limit = start + chunk_size
        if limit >= n:
            cut = resume = n
        else:
            low = start + half
            if low <= prev_end:
                low = prev_end + 1
            cut = rfind("\n", low, limit + 1)
            if cut >= 0:
                if text[cut - 1] != "\n":
                    para = rfind("\n\n", low, cut)
                    if para >= 0:
                        cut = para
                resume = cut + 1
            else:
                for mark in marks:
                    lo = cut + 1 if cut >= low else low
                    found = rfind(mark, lo, limit)
                    # ASCII marks end a sentence only before whitespace ("3.14", "e.g.x");
                    # give up after a few tries so dot leaders ("....") stay linear.
                    tries = 8
                    while found >= 0 and mark < "\x80" and text[found + 1] not in ws:
                        tries -= 1
                        found = rfind(mark, lo, found) if tries else -1
                    if found >= 0:
                        cut = found
                if cut >= 0:
                    cut += 1  # keep the punctuation with its sentence
                    resume = cut
                else:
                    lo = prev_end + 1 if prev_end >= start else start + 1
                    cut = rfind(" ", lo, limit + 1)
                    if has_tab:
                        cut = max(cut, rfind("\t", lo, limit + 1))
                    if cut < 0:
                        cut = limit
                    resume = cut
        end = cut
        while end > start and text[end - 1] in ws:
            end -= 1
        # A window whose new part is only whitespace adds nothing: emit no chunk, no overlap.
        emitted = end > start and end > prev_end
        if emitted:
            append((start, end) if as_spans else text[start:end])
            prev_end = end
        if cut >= n:
            break
        next_start = resume
        if chunk_overlap and emitted:
            back = end - chunk_overlap
            if back <= start:
                back = start + 1
            # Any whitespace is a word boundary; taking a later one only shortens the overlap.
            boundary = find(" ", back, end)
            if boundary < 0:
                for ch in other_spaces:
                    boundary = find(ch, back, end)
                    if boundary >= 0:
                        break
            if 0 <= boundary < next_start:
                next_start = boundary + 1
        if next_start <= start:
            next_start = start + 1
        while next_start < n and text[next_start] in ws:
            next_start += 1
        start = next_start
    return out


def approx_tokens(text: str) -> int:
    """Estimated tokens: one per four characters, the usual ratio for English with BPE tokenizers.

    Cheap and monotonic, good enough for quotas and display; not a billing-grade count.
    """
    return (len(text) + 3) // 4


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def dedupe(drafts: Iterable[ChunkDraft]) -> Iterator[ChunkDraft]:
    """Drop drafts whose text already appeared (repeated headers, boilerplate pages)."""
    seen: set[bytes] = set()
    for draft in drafts:
        digest = hashlib.sha256(draft.text.encode("utf-8", "surrogatepass")).digest()
        if digest not in seen:
            seen.add(digest)
            yield draft


def _is_rows(metadata: dict[str, Any]) -> bool:
    return "row_start" in metadata


def merge_metadata(metas: list[dict[str, Any]]) -> dict[str, Any]:
    """Metadata of a chunk built from several segments (in order).

    Pages become ``page_start``/``page_end`` (plus ``page`` when they are equal); rows keep the
    first ``sheet`` and span ``row_start`` to the last ``row_end``; other keys (heading_path,
    url, title) come from the first segment; ``ocr``/``confidence`` cover every OCR piece.
    """
    first = metas[0]
    merged = {k: v for k, v in first.items() if k not in ("page", "row_start", "row_end", "ocr", "confidence")}
    # A chunk holding any OCR text says so, with the mean confidence of its OCR pieces.
    confidences = [m["confidence"] for m in metas if m.get("ocr") and m.get("confidence") is not None]
    if any(m.get("ocr") for m in metas):
        merged["ocr"] = True
        merged["confidence"] = round(sum(confidences) / len(confidences), 1) if confidences else None
    pages = [m["page"] for m in metas if m.get("page") is not None]
    if pages:
        merged["page_start"], merged["page_end"] = pages[0], pages[-1]
        if pages[0] == pages[-1]:
            merged["page"] = pages[0]
    if _is_rows(first):
        merged["row_start"] = first.get("row_start")
        merged["row_end"] = metas[-1].get("row_end", first.get("row_end"))
    return merged


class _Pending:
    """Text waiting to become a chunk and the metadata of each piece in it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.metas: list[dict[str, Any]] = []
        self.size = 0
        self.rows = False

    def joiner(self, metadata: dict[str, Any]) -> str:
        # Rows of the same sheet stay one record per line; everything else is a paragraph.
        same_sheet = self.rows and _is_rows(metadata) and metadata.get("sheet") == self.metas[-1].get("sheet")
        return "\n" if same_sheet else "\n\n"

    def fits(self, text: str, metadata: dict[str, Any], chunk_size: int) -> bool:
        if not self.parts:
            return len(text) <= chunk_size
        return self.size + len(self.joiner(metadata)) + len(text) <= chunk_size

    def add(self, text: str, metadata: dict[str, Any]) -> None:
        if self.parts:
            joiner = self.joiner(metadata)
            self.parts.append(joiner)
            self.size += len(joiner)
        else:
            self.rows = _is_rows(metadata)
        self.parts.append(text)
        self.metas.append(metadata)
        self.size += len(text)

    def take(self) -> ChunkDraft | None:
        if not self.parts:
            return None
        draft = ChunkDraft("".join(self.parts), merge_metadata(self.metas))
        self.__init__()  # type: ignore[misc]
        return draft


def _row_pieces(segment: Segment, text: str, chunk_size: int, chunk_overlap: int) -> Iterator[tuple[str, dict]]:
    """Split a row segment between records; line k is row ``row_start + k`` (extractor invariant)."""
    meta = segment.metadata
    first_row = meta.get("row_start")
    lines = text.split("\n")
    group: list[str] = []
    size = 0
    group_first = 0

    def piece(first: int, last: int, body: str) -> tuple[str, dict]:
        piece_meta = dict(meta)
        if isinstance(first_row, int):
            piece_meta["row_start"], piece_meta["row_end"] = first_row + first, first_row + last
        return body, piece_meta

    for k, line in enumerate(lines):
        if group and size + 1 + len(line) > chunk_size:
            yield piece(group_first, k - 1, "\n".join(group))
            group, size = [], 0
        if len(line) > chunk_size:
            # One record longer than a chunk: split it, each piece still names its row.
            for part in split_text(line, chunk_size, chunk_overlap):
                yield piece(k, k, part)
            continue
        if not group:
            group_first = k
        group.append(line)
        size += len(line) + (1 if size else 0)
    if group:
        yield piece(group_first, len(lines) - 1, "\n".join(group))


def chunk_segments(
    segments: Iterable[Segment], chunk_size: int = 1000, chunk_overlap: int = 150
) -> Iterator[ChunkDraft]:
    """Merge small consecutive segments and split large ones into chunks of ``chunk_size``.

    Segments are joined with a blank line (rows of one sheet with a newline) and never merged
    across a ``boundary=True`` segment. A segment too big for one chunk is split with
    ``split_text`` (row segments only between records) and its last piece may absorb the
    following segments. Overlap applies only inside a split segment. Holds at most one
    pending chunk plus the current segment.
    """
    _validate(chunk_size, chunk_overlap)
    pending = _Pending()
    for segment in segments:
        text = segment.text.strip()
        if segment.boundary:
            draft = pending.take()
            if draft:
                yield draft
        if not text:
            continue
        metadata = segment.metadata
        if pending.fits(text, metadata, chunk_size):
            pending.add(text, metadata)
            continue
        draft = pending.take()
        if draft:
            yield draft
        if len(text) <= chunk_size:
            pending.add(text, metadata)
            continue
        if _is_rows(metadata):
            pieces = list(_row_pieces(segment, text, chunk_size, chunk_overlap))
        else:
            pieces = [(part, metadata) for part in split_text(text, chunk_size, chunk_overlap)]
        for part, part_meta in pieces[:-1]:
            yield ChunkDraft(part, merge_metadata([part_meta]))
        last, last_meta = pieces[-1]
        pending.add(last, last_meta)
    draft = pending.take()
    if draft:
        yield draft
