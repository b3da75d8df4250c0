from __future__ import annotations

import random

from sources.cleaning import clean_segments, clean_text
from sources.extractors.base import Segment


def test_removes_nul_controls_and_surrogates():
    assert clean_text("a\x00b\x07c\ud800d\x7fe\ufeff") == "abcde"


def test_keeps_newlines_and_tabs():
    assert clean_text("a\tb\nc") == "a\tb\nc"


def test_line_endings_and_form_feed():
    assert clean_text("a\r\nb\rc\x0cd") == "a\nb\nc\nd"


def test_whitespace_normalisation():
    assert clean_text("  a   b \t  c  \n\n\n\n  d\u00a0\u00a0e  ") == "a b\tc\n\nd e"


def test_hyphenation_joins_only_lowercase():
    assert clean_text("exam-\nple") == "example"
    assert clean_text("Jean-\nPaul") == "Jean-\nPaul"
    assert clean_text("2019-\n2020") == "2019-\n2020"
    assert clean_text("naï-\nve") == "naïve"


def test_soft_hyphen_removed():
    assert clean_text("co\u00adoperate") == "cooperate"


def test_nfc_not_nfkc():
    assert clean_text("e\u0301") == "é"
    assert clean_text("ﬁ ²") == "ﬁ ²"  # compatibility characters untouched


def test_never_loses_words():
    rng = random.Random(7)
    words = ["alpha", "beta", "Ωmega", "東京", "naïve", "x"]
    seps = [" ", "  ", "\t", "\n", "\n\n\n", "\u00a0", " \x00 ", "\r\n"]
    for _ in range(200):
        parts = [rng.choice(words) for _ in range(rng.randint(1, 50))]
        text = "".join(p + rng.choice(seps) for p in parts)
        assert clean_text(text).split() == parts


def test_clean_segments_drops_empty_and_carries_boundary():
    segments = [Segment("a", {"page": 1}), Segment(" \x00 ", {"page": 2}, boundary=True), Segment("b", {"page": 3})]
    cleaned = list(clean_segments(segments))
    assert [(s.text, s.metadata["page"], s.boundary) for s in cleaned] == [("a", 1, False), ("b", 3, True)]
