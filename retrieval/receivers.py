"""Signal receivers connected in ``RetrievalConfig.ready``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.recorder import MigrationRecorder

logger = logging.getLogger(__name__)


def chunks_activated(sender: Any, source_id: int, **kwargs: Any) -> None:
    """A new chunk set is visible: reset the source's semantic state and queue embedding after
    commit. A misconfigured backend must not fail the ingestion that sent this: the source stays
    ``pending`` with the reason, and the periodic sync retries once the settings are fixed."""
    from retrieval.embeddings import EmbeddingError
    from retrieval.services import embedding, index_sync

    try:
        needed = embedding.on_chunks_activated(source_id)
    except (ImproperlyConfigured, EmbeddingError) as exc:
        logger.error("source %s: cannot start embedding: %s", source_id, exc)
        from sources.models import Source

        Source.objects.filter(pk=source_id).update(index_status="pending", index_message=str(exc)[:2000])
        return
    if needed:
        transaction.on_commit(lambda: _queue_quietly(index_sync.queue, source_id))


def _queue_quietly(queue: Any, source_id: int) -> None:
    try:
        queue(source_id)
    except Exception:  # broker down: the periodic sync queues it later
        logger.warning("source %s: could not queue embedding now; the periodic sync will", source_id, exc_info=True)


def ensure_keyword_index(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """After every migrate: SQLite drops a table's triggers when a migration rebuilds it, so the
    keyword index's triggers are re-created (a no-op when present)."""
    connection = connections[using]
    if connection.vendor not in ("sqlite", "postgresql"):
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if ("retrieval", "0002_keyword_index") not in applied:
        return
    from retrieval.keyword import ensure_index

    ensure_index(connection)
