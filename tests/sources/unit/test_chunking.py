from __future__ import annotations

import random

import pytest

from sources.chunking import (
    ChunkDraft,
    approx_tokens,
    chunk_segments,
    content_hash,
    dedupe,
    split_spans,
    split_text,
)
from sources.extractors.base import Segment

WHITESPACE = " \t\n\r\x0b\x0c"


def _random_text(rng: random.Random, size: int) -> str:
    pieces = ["word", "longerword", "x", "é", "東京", ".", ". ", "! ", "? ", " ", "  ", "\n", "\n\n", "\t", "3.14"]
    pieces.append("y" * rng.randint(1, 300))  # sometimes a word longer than a chunk
    return "".join(rng.choice(pieces) for _ in range(size))


def _check_guarantees(text: str, chunk_size: int, overlap: int) -> None:
    spans = split_spans(text, chunk_size, overlap)
    assert split_text(text, chunk_size, overlap) == [text[s:e] for s, e in spans]
    if not spans:
        assert not text.strip(WHITESPACE)
        return
    assert not text[: spans[0][0]].strip(WHITESPACE)
    assert not text[spans[-1][1] :].strip(WHITESPACE)
    rebuilt = []
    prev_start = prev_end = None
    for s, e in spans:
        chunk = text[s:e]
        assert 0 < len(chunk) <= chunk_size
        assert chunk == chunk.strip(WHITESPACE)
        if prev_end is not None:
            assert s > prev_start and e > prev_end  # order kept
            assert prev_end - s <= overlap
            if s > prev_end:
                assert not text[prev_end:s].strip(WHITESPACE)  # only whitespace dropped
            elif s < prev_end:
                assert text[s - 1] in WHITESPACE  # overlap starts at a word boundary
        rebuilt.append(text[max(s, prev_end or 0) : e])
        prev_start, prev_end = s, e
    # Concatenating chunks minus their overlaps gives the text without the whitespace at cuts.
    assert "".join(rebuilt).split() == "".join(text[s:e] for s, e in _merge(spans)).split()
    assert "".join("".join(rebuilt).split()) == "".join(text.split())


def _merge(spans):
    merged = [list(spans[0])]
    for s, e in spans[1:]:
        if s <= merged[-1][1]:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return merged


@pytest.mark.parametrize("seed", range(40))
def test_split_text_properties_random(seed):
    rng = random.Random(seed)
    text = _random_text(rng, rng.randint(0, 2000))
    chunk_size = rng.choice([1, 2, 10, 50, 100, 333, 1000])
    overlap = rng.randint(0, chunk_size - 1)
    _check_guarantees(text, chunk_size, overlap)


def test_prefers_paragraph_breaks():
    paragraphs = [(f"Sentence number {i} is here. ") * 5 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_text(text, chunk_size=300, chunk_overlap=0)
    # Two ~134-char paragraphs fit in a chunk; a third would not, and no paragraph is cut.
    assert chunks == ["\n\n".join(p.strip() for p in paragraphs[i : i + 2]) for i in range(0, 10, 2)]


def test_falls_back_to_sentences_then_words():
    text = "First sentence is short. Second sentence is a little longer! Third one asks? Done"
    chunks = split_text(text, chunk_size=60, chunk_overlap=0)
    assert chunks[0] == "First sentence is short. Second sentence is a little longer!"
    words = " ".join(["lorem"] * 100)
    assert all(c.split() == ["lorem"] * len(c.split()) for c in split_text(words, 50, 0))


def test_hard_cut_for_unbroken_text():
    assert split_text("a" * 250, chunk_size=100, chunk_overlap=0) == ["a" * 100, "a" * 100, "a" * 50]


def test_overlap_comes_from_previous_chunk_end_at_word_boundary():
    text = " ".join(f"w{i:03d}" for i in range(300))
    chunks = split_text(text, chunk_size=100, chunk_overlap=30)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        first_word = nxt.split()[0]
        assert first_word in prev.split()  # overlap made of whole words
        overlap_text = prev[prev.index(first_word) :]
        assert nxt.startswith(overlap_text) and len(overlap_text) <= 30


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-1, 0), (100, 100), (100, -1)])
def test_invalid_arguments(size, overlap):
    with pytest.raises(ValueError):
        split_text("abc", size, overlap)


def test_empty_and_whitespace():
    assert split_text("") == [] and split_text(" \n\n \t") == []


def test_page_segments_merge_with_page_range():
    segments = [Segment(f"Page {i} text.", {"page": i}) for i in range(1, 6)]
    drafts = list(chunk_segments(segments, chunk_size=30, chunk_overlap=0))
    assert drafts[0] == ChunkDraft(
        "Page 1 text.\n\nPage 2 text.", {"page_start": 1, "page_end": 2}
    )
    assert drafts[-1].metadata == {"page_start": 5, "page_end": 5, "page": 5}
    assert "\n\n".join(d.text for d in drafts).count("Page ") == 5


def test_big_page_is_split_and_its_tail_merges_forward():
    big = " ".join(["word"] * 50)  # 249 chars: pieces of ~100, ~100, ~50
    drafts = list(chunk_segments([Segment(big, {"page": 1}), Segment("tail", {"page": 2})], 100, 0))
    assert all(len(d.text) <= 100 for d in drafts)
    assert drafts[0].metadata == {"page_start": 1, "page_end": 1, "page": 1}
    assert drafts[-1].text.endswith("\n\ntail") and drafts[-1].metadata == {"page_start": 1, "page_end": 2}


def test_boundaries_are_never_crossed():
    segments = [
        Segment("Intro", {"heading_path": ["A"]}, boundary=True),
        Segment("More intro", {"heading_path": ["A"]}),
        Segment("Section B", {"heading_path": ["A", "B"]}, boundary=True),
    ]
    drafts = list(chunk_segments(segments, 1000, 0))
    assert [(d.text, d.metadata["heading_path"]) for d in drafts] == [
        ("Intro\n\nMore intro", ["A"]),
        ("Section B", ["A", "B"]),
    ]


def test_rows_are_split_between_records_with_exact_row_numbers():
    lines = [f"Name: person{i:02d}; Age: {20 + i}" for i in range(30)]  # 27 chars each
    segments = [
        Segment("\n".join(lines[:20]), {"sheet": "S", "row_start": 2, "row_end": 21}, boundary=True),
        Segment("\n".join(lines[20:]), {"sheet": "S", "row_start": 22, "row_end": 31}),
    ]
    drafts = list(chunk_segments(segments, chunk_size=120, chunk_overlap=20))
    rebuilt = []
    for d in drafts:
        assert len(d.text) <= 120
        rows = d.text.split("\n")
        assert all(r.startswith("Name: person") and "; Age: " in r for r in rows)  # never split from header
        first = int(rows[0][len("Name: person") :][:2])
        assert d.metadata == {"sheet": "S", "row_start": first + 2, "row_end": first + 2 + len(rows) - 1}
        rebuilt.extend(rows)
    assert rebuilt == lines  # no overlap duplicates rows, nothing lost


def test_rows_of_different_sheets_do_not_merge():
    segments = [
        Segment("a: 1", {"sheet": "One", "row_start": 2, "row_end": 2}, boundary=True),
        Segment("b: 2", {"sheet": "Two", "row_start": 2, "row_end": 2}, boundary=True),
    ]
    assert [d.metadata["sheet"] for d in chunk_segments(segments, 1000, 0)] == ["One", "Two"]


def test_overlong_single_row_is_split_but_keeps_its_row():
    row = "; ".join(f"Header{i}: value{i}" for i in range(40))
    drafts = list(chunk_segments([Segment(row, {"sheet": None, "row_start": 7, "row_end": 7})], 100, 10))
    assert len(drafts) > 1
    assert all(d.metadata == {"sheet": None, "row_start": 7, "row_end": 7} for d in drafts)


def test_chunk_segments_is_lazy():
    def endless():
        i = 0
        while True:
            i += 1
            yield Segment("x" * 50, {"page": i})

    gen = chunk_segments(endless(), 120, 0)
    first = next(gen)
    assert first.metadata == {"page_start": 1, "page_end": 2}


def test_dedupe_hash_and_tokens():
    drafts = [ChunkDraft("same", {"page": 1}), ChunkDraft("other"), ChunkDraft("same", {"page": 9})]
    assert [d.metadata for d in dedupe(drafts)] == [{"page": 1}, {}]
    assert content_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert approx_tokens("") == 0 and approx_tokens("abcd") == 1 and approx_tokens("abcde") == 2
