"""Hybrid fusion: the keyword ranking decides when the best keyword hit holds the whole question,
meaning decides when it holds none of it."""

from __future__ import annotations

from retrieval.services.search import fuse, term_coverage

KEYWORD = [(1, 30.0), (2, 25.0), (3, 5.0)]
SEMANTIC = [(2, 0.60), (1, 0.55), (4, 0.50)]


def test_full_coverage_keeps_the_keyword_order():
    assert [chunk for chunk, _ in fuse(KEYWORD, SEMANTIC, coverage=1.0)][:2] == [1, 2]


def test_no_coverage_follows_meaning():
    assert [chunk for chunk, _ in fuse(KEYWORD, SEMANTIC, coverage=0.0)][:2] == [2, 1]


def test_a_chunk_found_by_one_ranking_only_is_kept_and_ties_follow_keyword_order():
    fused = fuse([(7, 1.0), (8, 1.0)], [], coverage=0.5)
    assert [chunk for chunk, _ in fused] == [7, 8]
    assert {chunk for chunk, _ in fuse(KEYWORD, SEMANTIC, coverage=0.5)} == {1, 2, 3, 4}


def test_term_coverage_counts_question_words_in_the_text():
    assert term_coverage("How do I prune roses?", "Pruning the roses in winter.") == 1.0
    assert term_coverage("How do I prune roses?", "Water the lawn.") == 0.0
    assert term_coverage("prune roses water", "Roses need water.") == 2 / 3
    assert term_coverage("???", "anything") == 0.0
