"""Keeping the semantic index complete: queue sources whose vectors are missing or stale.

Runs periodically. It finds completed sources that are ``pending`` with no live run (the message
was lost, or the broker was down when the swap committed), ``indexing`` by a run that stopped
reporting (a worker killed outright), ``failed`` long enough ago to try again, or embedded with
another model than the configured one (the model changed: re-embed in the background), and queues
them. It also deletes vectors no chunk uses any more.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from retrieval.models import Embedding
from retrieval.services.embedding import current_model_key
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)
Status = Source.IndexStatus


def sources_needing_work(model_key: str) -> list[int]:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EMBEDDINGS_CLAIM_STALE_SECONDS)
    retry_failed = now - timedelta(seconds=settings.EMBEDDINGS_RETRY_FAILED_AFTER_SECONDS)
    quiet = Q(index_task_id="") | Q(index_updated_at__lt=stale) | Q(index_updated_at__isnull=True)
    wanted = (
        Q(index_status=Status.PENDING) & quiet
        | Q(index_status=Status.INDEXING) & quiet
        | Q(index_status=Status.FAILED, index_updated_at__lt=retry_failed)
        | Q(index_status=Status.READY) & ~Q(index_model=model_key)
    )
    return list(
        Source.objects.filter(status=Source.Status.COMPLETED).filter(wanted)
        .order_by("index_updated_at").values_list("pk", flat=True)[: settings.EMBEDDINGS_SYNC_BATCH]
    )


def queue(source_id: int) -> None:
    from retrieval.tasks import embed_source

    embed_source.delay(source_id)


def delete_unused_vectors(model_key: str | None) -> int:
    """Vectors whose text no chunk has any more (staged chunks count: a running reprocess keeps
    the vectors it is about to reuse), and vectors of older models once the current model covers
    every completed source."""
    if connection.vendor == "sqlite":
        # NOT IN builds one temporary index of the chunk hashes; a correlated NOT EXISTS would scan
        # the chunk table (no index on content_hash) once per vector.
        unused = Embedding.objects.exclude(content_hash__in=Chunk.objects.values("content_hash"))
    else:
        unused = Embedding.objects.filter(~Exists(Chunk.objects.filter(content_hash=OuterRef("content_hash"))))
    deleted, _ = unused.delete()
    if model_key is None:  # keyword-only for now: keep every model's vectors for when it comes back
        return deleted
    behind = Source.objects.filter(status=Source.Status.COMPLETED).exclude(
        index_status=Status.READY, index_model=model_key
    )
    if not behind.exists():
        old, _ = Embedding.objects.exclude(model_key=model_key).delete()
        deleted += old
    return deleted


def sync() -> dict[str, int]:
    model_key = current_model_key()
    if not model_key:
        # Keyword only: mark the backlog ready so nothing waits for vectors that will never come.
        marked = Source.objects.filter(status=Source.Status.COMPLETED).exclude(
            index_status=Status.READY, index_model=""
        ).update(index_status=Status.READY, index_model="", index_task_id="",
                 index_message="Keyword search only: no embedding backend is configured.")
        return {"queued": 0, "keyword_only": marked, "vectors_deleted": delete_unused_vectors(None)}
    queued = 0
    for source_id in sources_needing_work(model_key):
        with transaction.atomic():
            Source.objects.filter(pk=source_id).update(index_task_id="", index_status=Status.PENDING)
        queue(source_id)
        queued += 1
    if queued:
        logger.info("retrieval sync: queued %s sources for embedding", queued)
    return {"queued": queued, "vectors_deleted": delete_unused_vectors(model_key)}
