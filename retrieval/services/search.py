"""Answering a question from a chatbot's knowledge: keyword, semantic or hybrid search.

Hybrid fuses the two rankings by z-scores, weighted by how much of the question the best keyword
hit contains (``fuse``). When vectors are not ready (no
backend, nothing embedded yet, the embedding service down) a search answers from the keyword
index and says so in ``notice``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum

from botsmith.models import Chatbot
from retrieval import keyword, vectors
from retrieval.embeddings import EmbeddingBackend, EmbeddingError, get_backend
from retrieval.services.serving import serving
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="semantic-search")
MODES = ("hybrid", "keyword", "semantic")
# Keyword weight in hybrid fusion when none of the question's words is in the best keyword hit; it
# rises linearly to 1 when all are (see ``fuse``).
HYBRID_MIN_KEYWORD_WEIGHT = 0.2


@dataclass
class SearchHit:
    chunk_id: int
    source_id: int
    source_name: str
    ordinal: int
    text: str
    score: float
    metadata: dict[str, Any]


@dataclass
class SearchResult:
    query: str
    mode: str
    mode_used: str
    results: list[SearchHit] = field(default_factory=list)
    notice: str = ""


def search(
    chatbot: Chatbot, query: str, *, k: int = 10, mode: str = "hybrid", source_ids: Sequence[int] | None = None
) -> SearchResult:
    """The chatbot's ``k`` best chunks for ``query``. ``query``, ``k`` and ``mode`` are validated by
    the caller (``serializers.SearchQuerySerializer``); ``source_ids`` must be the chatbot's own."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    depth = max(k, settings.SEARCH_FUSION_DEPTH) if mode == "hybrid" else k
    plan: SemanticPlan | None = None
    notice = ""
    if mode in ("hybrid", "semantic"):
        plan, notice = _plan_semantic(chatbot.pk)
    if plan is None or mode == "keyword":
        ranking = _keyword(chatbot.pk, query, k, source_ids)
        return SearchResult(query=query, mode=mode, mode_used="keyword", results=_hydrate(ranking), notice=notice)
    # The question's embedding and the matrix product need no database: they run on another thread
    # (ONNX Runtime and numpy release the GIL) while this one runs the keyword query.
    pending = _executor.submit(plan.rank, query, depth, source_ids)
    keyword_ranking = _keyword(chatbot.pk, query, depth, source_ids) if mode == "hybrid" else []
    try:
        semantic_ranking = pending.result()
    except EmbeddingError as exc:
        logger.warning("query embedding failed: %s", exc)
        notice = f"Semantic search is unavailable ({exc}); results come from the keyword index."
        ranking = keyword_ranking[:k] if mode == "hybrid" else _keyword(chatbot.pk, query, k, source_ids)
        return SearchResult(query=query, mode=mode, mode_used="keyword", results=_hydrate(ranking), notice=notice)
    if mode == "semantic":
        ranking = semantic_ranking[:k]
    else:
        ranking = _hybrid(query, keyword_ranking, semantic_ranking)[:k]
    return SearchResult(query=query, mode=mode, mode_used=mode, results=_hydrate(ranking), notice=notice)


def fuse(
    keyword_ranking: list[tuple[int, float]], semantic_ranking: list[tuple[int, float]], coverage: float
) -> list[tuple[int, float]]:
    """Weighted sum of the two rankings' z-scores; the keyword weight grows with ``coverage``.

    ``coverage`` is the share of the question's words found in the best keyword hit. A question
    asked in the documents' own words (coverage near 1) is answered best by BM25; a paraphrase
    (low coverage) by meaning. Equal-weight reciprocal-rank fusion measured 0.84 MRR on lexical
    questions where keyword alone gave 0.92; this weighting kept 0.92 there and lifted paraphrases
    above semantic alone (``benchmarks/retrieval.py``). A chunk missing from one ranking gets
    that ranking's lowest z-score. Ties keep the keyword order.
    """
    keyword_weight = HYBRID_MIN_KEYWORD_WEIGHT + (1 - HYBRID_MIN_KEYWORD_WEIGHT) * coverage
    semantic_weight = 1 - keyword_weight
    kw, sem = _zscores(keyword_ranking), _zscores(semantic_ranking)
    kw_floor, sem_floor = min(kw.values(), default=0.0), min(sem.values(), default=0.0)
    keyword_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(keyword_ranking)}
    fused = {
        chunk_id: keyword_weight * kw.get(chunk_id, kw_floor) + semantic_weight * sem.get(chunk_id, sem_floor)
        for chunk_id in kw.keys() | sem.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], keyword_rank.get(item[0], len(keyword_rank)), item[0]))


def _zscores(ranking: list[tuple[int, float]]) -> dict[int, float]:
    if not ranking:
        return {}
    values = [score for _, score in ranking]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
    return {chunk_id: (score - mean) / spread for chunk_id, score in ranking}


_WORD = re.compile(r"[^\W_]+")


def _prefix(word: str) -> str:
    """A crude stem (the word minus up to three letters), enough to see "pruning" in "prune"."""
    return word[: max(4, len(word) - 3)] if len(word) > 4 else word


def term_coverage(query: str, text: str) -> float:
    """Share of the question's words (stop words aside) that occur in ``text``."""
    terms = keyword.query_terms(query)
    if not terms:
        return 0.0
    words = {_prefix(w) for w in _WORD.findall(text.lower())}
    return sum(1 for term in terms if _prefix(term) in words) / len(terms)


def _hybrid(query: str, keyword_ranking: list[tuple[int, float]],
            semantic_ranking: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if not keyword_ranking:
        return semantic_ranking
    top_text = Chunk.objects.filter(pk=keyword_ranking[0][0]).values_list("text", flat=True).first() or ""
    return fuse(keyword_ranking, semantic_ranking, term_coverage(query, top_text))


def _chunk_total(chatbot_id: int) -> int:
    total = Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.COMPLETED).aggregate(
        n=Sum("chunk_count")
    )["n"]
    return int(total or 0)


def _keyword(chatbot_id: int, query: str, k: int, source_ids: Sequence[int] | None) -> list[tuple[int, float]]:
    return keyword.search(chatbot_id, query, k=k, source_ids=source_ids, chunk_total=_chunk_total(chatbot_id))


@dataclass
class SemanticPlan:
    """What a semantic ranking needs, read from the database: the model and the chatbot's vectors."""

    backend: EmbeddingBackend
    vector_set: vectors.VectorSet

    def rank(self, query: str, k: int, source_ids: Sequence[int] | None) -> list[tuple[int, float]]:
        query_vector = self.backend.embed([query])[0]
        return self.vector_set.top(query_vector, k, source_ids)


def _plan_semantic(chatbot_id: int) -> tuple[SemanticPlan | None, str]:
    """The semantic plan, or None and why semantic search is not available."""
    try:
        backend = get_backend()
    except (EmbeddingError, ImproperlyConfigured) as exc:
        logger.warning("semantic search unavailable: %s", exc)
        return None, f"Semantic search is unavailable ({exc}); results come from the keyword index."
    if backend is None:
        return None, "Semantic search is off (EMBEDDINGS_BACKEND=none); results come from the keyword index."
    backend, vector_set = serving(chatbot_id, backend)
    if not len(vector_set.chunk_ids):
        return None, "No chunk has a vector yet (indexing in progress); results come from the keyword index."
    notice = ""
    pending = Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.COMPLETED).exclude(
        index_status=Source.IndexStatus.READY
    )
    if pending.exists():
        notice = "Some sources are still being indexed: semantic results cover the chunks embedded so far."
    return SemanticPlan(backend, vector_set), notice


def _hydrate(ranking: list[tuple[int, float]]) -> list[SearchHit]:
    ids = [chunk_id for chunk_id, _ in ranking]
    chunks = {
        c.pk: c for c in Chunk.objects.filter(pk__in=ids, is_active=True).select_related("source").only(
            "id", "ordinal", "text", "metadata", "source_id", "source__name"
        )
    }
    hits = []
    for chunk_id, score in ranking:
        chunk = chunks.get(chunk_id)
        if chunk is None:  # swapped out between ranking and reading
            continue
        hits.append(SearchHit(
            chunk_id=chunk.pk, source_id=chunk.source_id, source_name=chunk.source.name, ordinal=chunk.ordinal,
            text=chunk.text, score=round(score, 6), metadata=chunk.metadata or {},
        ))
    return hits
