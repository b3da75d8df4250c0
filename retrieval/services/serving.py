"""Which model's vectors answer a chatbot's semantic search.

Normally the configured model's. After the model is changed, the periodic sync re-embeds every
source in the background; until the new model covers more of a chatbot's chunks than the previous
one, searches keep using the previous model's vectors and embed the question with that model, so
semantic search never degrades during the switch. One ranking only ever uses one model.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.db.models import Count

from retrieval import vectors
from retrieval.embeddings import EmbeddingBackend, EmbeddingError
from retrieval.models import Embedding
from sources.models import Chunk, Source

logger = logging.getLogger(__name__)
SAMPLE = 64


@functools.lru_cache(maxsize=4)
def backend_for_key(key: str) -> EmbeddingBackend | None:
    """A backend that produces vectors of ``key`` (``backend:model:dimension``), or None."""
    backend, _, rest = key.partition(":")
    model, _, dimension = rest.rpartition(":")  # model names may contain ':' (Ollama tags)
    try:
        if backend == "local":
            from retrieval.embeddings.local import LocalBackend

            return LocalBackend(model, batch_size=settings.EMBEDDINGS_BATCH_SIZE, threads=settings.EMBEDDINGS_THREADS)
        if backend == "openai":
            from retrieval.embeddings.openai_compat import OpenAICompatibleBackend

            return OpenAICompatibleBackend(
                base_url=settings.OPENAI_EMBEDDINGS_BASE_URL, model=model, api_key=settings.OPENAI_EMBEDDINGS_API_KEY,
                dimension=int(dimension), batch_size=settings.EMBEDDINGS_BATCH_SIZE,
                timeout=settings.EMBEDDINGS_TIMEOUT_SECONDS, max_retries=settings.EMBEDDINGS_MAX_RETRIES,
            )
    except (EmbeddingError, ValueError) as exc:
        logger.warning("cannot build a backend for %s: %s", key, exc)
    return None


def _switching(chatbot_id: int, current_key: str) -> bool:
    return Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.COMPLETED).exclude(
        index_status=Source.IndexStatus.READY, index_model=current_key
    ).exists()


def previous_key(chatbot_id: int, current_key: str) -> str | None:
    """The other model most of a sample of the chatbot's chunks have vectors of."""
    sample = list(Chunk.objects.filter(chatbot_id=chatbot_id, is_active=True)
                  .values_list("content_hash", flat=True)[:SAMPLE])
    row = (
        Embedding.objects.filter(content_hash__in=sample).exclude(model_key=current_key)
        .values("model_key").annotate(n=Count("id")).order_by("-n").first()
    )
    return row["model_key"] if row else None


def serving(chatbot_id: int, current: EmbeddingBackend) -> tuple[EmbeddingBackend, vectors.VectorSet]:
    current_set = vectors.cache.get(chatbot_id, current.key)
    if not _switching(chatbot_id, current.key):
        return current, current_set
    key = previous_key(chatbot_id, current.key)
    if key is None:
        return current, current_set
    previous_set = vectors.cache.get(chatbot_id, key)
    if len(previous_set.chunk_ids) <= len(current_set.chunk_ids):
        return current, current_set
    previous = backend_for_key(key)
    if previous is None:
        return current, current_set
    return previous, previous_set
