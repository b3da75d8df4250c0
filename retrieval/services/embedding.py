"""Dense embeddings of a source's active chunks: resumable, deduplicated, in time slices.

State lives on the source (``index_status``, ``embedded_count``, ``index_model``,
``index_task_id``, ``index_updated_at``); vectors live in ``Embedding`` keyed by (model, content
hash). A run walks the active chunks in ordinal order, embeds only texts that have no vector yet and
stores them with ``ignore_conflicts``, so a run that crashed, ran twice or was handed over never
embeds a text twice or counts a chunk twice: ``embedded_count`` is counted, never incremented.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from retrieval.models import Embedding
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)
Status = Source.IndexStatus
WINDOW = 512  # chunks read per step of the walk


@dataclass
class RunOutcome:
    status: str  # "ready", "continue" (handed over to ``next_task_id``), "skipped", "keyword_only"
    embedded: int = 0
    total: int = 0
    next_task_id: str = ""


def current_backend():  # type: ignore[no-untyped-def]
    from retrieval.embeddings import get_backend

    return get_backend()


def current_model_key() -> str:
    backend = current_backend()
    return backend.key if backend is not None else ""


def count_embedded(source_id: int, model_key: str) -> tuple[int, int]:
    """(active chunks with a vector of ``model_key``, active chunks)."""
    chunks = Chunk.objects.filter(source_id=source_id, is_active=True)
    total = chunks.count()
    if not model_key:
        return 0, total
    have = Embedding.objects.filter(model_key=model_key, content_hash=OuterRef("content_hash"))
    return chunks.filter(Exists(have)).count(), total


def on_chunks_activated(source_id: int) -> bool:
    """Inside the swap's transaction: reset the source's semantic state for its new chunk set.

    Returns True when an embedding run is needed. Unchanged texts keep their vectors, so a
    reprocess of an unchanged file or a re-crawl of unchanged pages is ready at once.
    """
    key = current_model_key()
    embedded, total = count_embedded(source_id, key)
    if not key:
        status, message = Status.READY, "Keyword search only: no embedding backend is configured."
    elif embedded >= total:
        status, message = Status.READY, ""
    else:
        status, message = Status.PENDING, ""
    Source.objects.filter(pk=source_id).update(
        index_status=status, index_model=key, embedded_count=embedded, index_message=message,
        index_task_id="", index_updated_at=timezone.now(),
    )
    return status == Status.PENDING


def claim(source_id: int, task_id: str) -> bool:
    """Take the source's embedding run for ``task_id``: free, already ours, or held by a dead run."""
    stale = timezone.now() - timedelta(seconds=settings.EMBEDDINGS_CLAIM_STALE_SECONDS)
    return bool(
        Source.objects.filter(pk=source_id, status=Source.Status.COMPLETED)
        .filter(Q(index_task_id="") | Q(index_task_id=task_id) | Q(index_updated_at__lt=stale)
                | Q(index_updated_at__isnull=True))
        .update(index_task_id=task_id, index_status=Status.INDEXING, index_updated_at=timezone.now())
    )


def _store(model_key: str, hashes: list[str], vectors: np.ndarray) -> None:
    rows = [
        Embedding(model_key=model_key, content_hash=h, vector=np.ascontiguousarray(v, dtype="<f4").tobytes())
        for h, v in zip(hashes, vectors, strict=True)
    ]
    Embedding.objects.bulk_create(rows, ignore_conflicts=True)


def _progress(source_id: int, task_id: str, embedded: int) -> bool:
    """Record progress; False when the run no longer holds the source (swapped, deleted, taken)."""
    return bool(
        Source.objects.filter(pk=source_id, index_task_id=task_id).update(
            embedded_count=Greatest("embedded_count", embedded), index_updated_at=timezone.now()
        )
    )


def run(source_id: int, task_id: str, *, slice_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic) -> RunOutcome:
    """Embed what the source is missing, for at most ``slice_seconds`` (then hand over)."""
    backend = current_backend()
    if backend is None:
        with transaction.atomic():
            on_chunks_activated(source_id)
        return RunOutcome("keyword_only")
    if not claim(source_id, task_id):
        return RunOutcome("skipped")
    key = backend.key
    Source.objects.filter(pk=source_id, index_task_id=task_id).update(index_model=key, index_message="")
    budget = settings.EMBEDDINGS_SLICE_SECONDS if slice_seconds is None else slice_seconds
    started = clock()
    cursor, embedded, total = -1, 0, 0
    while True:
        window = list(
            Chunk.objects.filter(source_id=source_id, is_active=True, ordinal__gt=cursor)
            .order_by("ordinal").values_list("ordinal", "content_hash", "text")[:WINDOW]
        )
        if not window:
            break
        cursor = window[-1][0]
        total += len(window)
        hashes = [row[1] for row in window]
        have = set(Embedding.objects.filter(model_key=key, content_hash__in=hashes)
                   .values_list("content_hash", flat=True))
        embedded += len(have)
        missing = [(h, text) for _, h, text in window if h not in have]
        for start in range(0, len(missing), backend.batch_size):
            part = missing[start:start + backend.batch_size]
            vectors = backend.embed([text for _, text in part])
            _store(key, [h for h, _ in part], vectors)
            embedded += len(part)
            if not _progress(source_id, task_id, embedded):
                return RunOutcome("skipped", embedded, total)
            if clock() - started > budget:
                return _hand_over(source_id, task_id, embedded, total)
    return _finish(source_id, task_id, key)


def _hand_over(source_id: int, task_id: str, embedded: int, total: int) -> RunOutcome:
    """Pass the claim to a new task id; the caller queues that task. A slice keeps one source from
    holding an ``embeddings`` worker for hours and keeps every task under the time limits."""
    next_id = str(uuid.uuid4())
    moved = Source.objects.filter(pk=source_id, index_task_id=task_id).update(
        index_task_id=next_id, index_updated_at=timezone.now()
    )
    return RunOutcome("continue" if moved else "skipped", embedded, total, next_task_id=next_id if moved else "")


def _finish(source_id: int, task_id: str, key: str) -> RunOutcome:
    # Counted again over the whole active set: a swap during the walk cannot leave a wrong count.
    embedded, total = count_embedded(source_id, key)
    status = Status.READY if embedded >= total else Status.PENDING
    Source.objects.filter(pk=source_id, index_task_id=task_id).update(
        index_status=status, embedded_count=embedded, index_task_id="", index_updated_at=timezone.now()
    )
    return RunOutcome(status, embedded, total)


def record_failure(source_id: int, task_id: str, message: str) -> None:
    Source.objects.filter(pk=source_id).filter(Q(index_task_id=task_id) | Q(index_task_id="")).update(
        index_status=Status.FAILED, index_message=message[:2000], index_task_id="",
        index_updated_at=timezone.now(),
    )


def embed_source_now(source_id: int) -> int:
    """Embed every missing vector of the source in this process (benchmarks, shell); returns the
    number of active chunks covered."""
    task_id = f"inline-{uuid.uuid4()}"
    outcome = run(source_id, task_id, slice_seconds=float("inf"))
    return outcome.embedded
