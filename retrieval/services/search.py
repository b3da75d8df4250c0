"""Answering a question from a chatbot's knowledge: keyword, semantic or hybrid search.

Hybrid fuses the two rankings with reciprocal-rank fusion (RRF): it needs no score calibration
between BM25 and cosine similarity, and measured better than either ranking alone on both
lexical and paraphrased questions (``benchmarks/retrieval.py``). When vectors are not ready (no
backend, nothing embedded yet, the embedding service down) a search answers from the keyword
index and says so in ``notice``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Sum

from botsmith.models import Chatbot
from retrieval import keyword
from retrieval.services.serving import serving
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)
MODES = ("hybrid", "keyword", "semantic")
RRF_K = 60


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
    ranked_semantic: list[tuple[int, float]] | None = None
    notice = ""
    if mode in ("hybrid", "semantic"):
        ranked_semantic, notice = _semantic(chatbot.pk, query, depth, source_ids)
    if ranked_semantic is None or mode == "keyword":
        mode_used = "keyword"
        ranking = _keyword(chatbot.pk, query, k, source_ids)
    elif mode == "semantic":
        mode_used = "semantic"
        ranking = ranked_semantic[:k]
    else:
        mode_used = "hybrid"
        ranking = fuse(_keyword(chatbot.pk, query, depth, source_ids), ranked_semantic)[:k]
    return SearchResult(query=query, mode=mode, mode_used=mode_used, results=_hydrate(ranking), notice=notice)


def fuse(*rankings: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each ranking adds 1 / (60 + rank) to a chunk's score."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _chunk_total(chatbot_id: int) -> int:
    total = Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.COMPLETED).aggregate(
        n=Sum("chunk_count")
    )["n"]
    return int(total or 0)


def _keyword(chatbot_id: int, query: str, k: int, source_ids: Sequence[int] | None) -> list[tuple[int, float]]:
    return keyword.search(chatbot_id, query, k=k, source_ids=source_ids, chunk_total=_chunk_total(chatbot_id))


def _semantic(
    chatbot_id: int, query: str, k: int, source_ids: Sequence[int] | None
) -> tuple[list[tuple[int, float]] | None, str]:
    """The semantic ranking, or None and why it is not available."""
    from django.core.exceptions import ImproperlyConfigured

    from retrieval.embeddings import EmbeddingError, get_backend

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
    try:
        query_vector = backend.embed([query])[0]
    except EmbeddingError as exc:
        logger.warning("query embedding failed: %s", exc)
        return None, f"Semantic search is unavailable ({exc}); results come from the keyword index."
    notice = ""
    pending = Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.COMPLETED).exclude(
        index_status=Source.IndexStatus.READY
    )
    if pending.exists():
        notice = "Some sources are still being indexed: semantic results cover the chunks embedded so far."
    return vector_set.top(query_vector, k, source_ids), notice


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
