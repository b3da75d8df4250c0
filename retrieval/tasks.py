"""Celery tasks of retrieval: thin wrappers over ``services.embedding`` and ``services.index_sync``."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError, close_old_connections

from retrieval.services import embedding, index_sync

logger = logging.getLogger(__name__)
MAX_RETRIES = 5


def _countdown(retries: int) -> int:
    return min(10 * 2**retries, 300)


@shared_task(
    bind=True, name="retrieval.tasks.embed_source", acks_late=True, reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def embed_source(self: Any, source_id: int) -> dict[str, Any]:
    """Embed a source's missing vectors (queue ``embeddings``). Safe to run twice: a second
    delivery either resumes the same claim or finds another live run and skips."""
    from retrieval.embeddings import EmbeddingError

    task_id = self.request.id
    try:
        outcome = embedding.run(int(source_id), task_id)
    except EmbeddingError as exc:
        if exc.transient and self.request.retries < MAX_RETRIES:
            logger.warning("source %s: embedding backend unavailable, retrying: %s", source_id, exc)
            raise self.retry(exc=exc, countdown=_countdown(self.request.retries)) from exc
        logger.error("source %s: embedding failed: %s", source_id, exc)
        embedding.record_failure(int(source_id), task_id, str(exc))
        return {"source_id": source_id, "status": "failed", "error": str(exc)}
    except OperationalError as exc:
        close_old_connections()
        if self.request.retries >= MAX_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=_countdown(self.request.retries)) from exc
    if outcome.status == "continue":
        embed_source.apply_async((source_id,), task_id=outcome.next_task_id)
    return {"source_id": source_id, "status": outcome.status, "embedded": outcome.embedded}


@shared_task(name="retrieval.tasks.sync_index")
def sync_index() -> dict[str, int]:
    """Periodic (``retrieval-sync-index``): queue what needs embedding, drop unused vectors."""
    return index_sync.sync()
