"""Exact vector search over one chatbot's chunks, from an in-process cache of its vectors.

Per-chatbot scale (up to ~100k chunks) is small enough for brute force: one float32 matrix
product (measured 24–30 ms at 100k × 384 on 2 cores) with exact recall and no index to build or
keep in step. Each process keeps the matrices of recently searched chatbots, bounded by
``SEARCH_VECTOR_CACHE_MB``; an entry is keyed by a fingerprint of the chatbot's sources that
changes whenever a chunk set is swapped, a source is deleted or vectors are added, so a stale
matrix is never used.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, Sum

from sources.models import Source

Fingerprint = tuple[object, ...]


@dataclass
class VectorSet:
    """The chatbot's active chunks that have a vector of ``model_key``."""

    model_key: str
    chunk_ids: np.ndarray  # int64
    source_ids: np.ndarray  # int64
    matrix: np.ndarray  # float32, (n, dimension)
    fingerprint: Fingerprint = field(default=())
    loaded_at: float = 0.0

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.chunk_ids.nbytes + self.source_ids.nbytes)

    def top(self, query: np.ndarray, k: int, source_ids: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the ``k`` nearest chunks, best first."""
        if not len(self.chunk_ids):
            return []
        scores = self.matrix @ query.astype(np.float32, copy=False)
        if source_ids:
            scores = np.where(np.isin(self.source_ids, np.asarray(source_ids, dtype=np.int64)), scores, -np.inf)
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.chunk_ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]


def fingerprint(chatbot_id: int) -> Fingerprint:
    """(what chunks exist, how far embedding has got, sources still being embedded).

    The first part changes when a chunk set is swapped, a source finishes or is deleted; the
    second whenever an embedding batch is stored.
    """
    agg = Source.objects.filter(chatbot_id=chatbot_id).aggregate(
        n=Count("id"), generations=Sum("active_generation"), finished=Max("finished_at"),
        embedded=Sum("embedded_count"), indexed=Max("index_updated_at"),
        indexing=Count("id", filter=Q(status=Source.Status.COMPLETED) & ~Q(index_status=Source.IndexStatus.READY)),
    )
    return (agg["n"], agg["generations"], agg["finished"]), (agg["embedded"], agg["indexed"]), agg["indexing"]


def load(chatbot_id: int, model_key: str) -> VectorSet:
    """Read the vectors from the database (no cache)."""
    dimension = int(model_key.rsplit(":", 1)[-1])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.source_id, e.vector FROM sources_chunk AS c "
            "JOIN retrieval_embedding AS e ON e.content_hash = c.content_hash AND e.model_key = %s "
            "WHERE c.chatbot_id = %s AND c.is_active",
            [model_key, chatbot_id],
        )
        rows = cursor.fetchall()
    matrix = np.empty((len(rows), dimension), dtype=np.float32)
    for i, row in enumerate(rows):
        matrix[i] = np.frombuffer(bytes(row[2]), dtype="<f4", count=dimension)
    return VectorSet(
        model_key=model_key,
        chunk_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        source_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        matrix=matrix,
    )


class VectorCache:
    """LRU of vector sets by (chatbot, model), bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, str], VectorSet] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def get(self, chatbot_id: int, model_key: str) -> VectorSet:
        key = (chatbot_id, model_key)
        current = fingerprint(chatbot_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._fresh_enough(entry, current):
                self._entries.move_to_end(key)
                return entry
        entry = load(chatbot_id, model_key)
        entry.fingerprint = current
        entry.loaded_at = time.monotonic()
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > 1 and self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)
            if entry.nbytes > self.max_bytes:
                # Larger than the whole budget: serve it once, keep nothing.
                self._entries.pop(key, None)
        return entry

    def _fresh_enough(self, entry: VectorSet, current: Fingerprint) -> bool:
        """Exact match, or only embedding progress moved while sources are still being embedded and
        the entry is younger than ``SEARCH_VECTOR_REFRESH_SECONDS``. An embedding run stores a batch
        every second or so; reloading 100k vectors (1–3 s) on each would make every search during
        indexing slow. Chunk swaps, new and deleted sources always reload at once, and the last
        batch of a run (nothing left indexing) too."""
        if entry.fingerprint == current:
            return True
        structure, _, indexing = current
        return (
            entry.fingerprint[0] == structure and bool(indexing) and len(entry.chunk_ids) > 0
            and time.monotonic() - entry.loaded_at < settings.SEARCH_VECTOR_REFRESH_SECONDS
        )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = VectorCache(settings.SEARCH_VECTOR_CACHE_MB * 1024 * 1024)
