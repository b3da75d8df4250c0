"""Text embeddings for semantic search: the backend chosen by settings, loaded once per process."""

from __future__ import annotations

import functools
import os

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import EmbeddingBackend, EmbeddingError, backend_key, l2_normalise
from .local import LocalBackend
from .openai_compat import OpenAICompatibleBackend

__all__ = [
    "BACKENDS",
    "EmbeddingBackend",
    "EmbeddingError",
    "LocalBackend",
    "OpenAICompatibleBackend",
    "backend_key",
    "embed_query",
    "get_backend",
    "l2_normalise",
    "reset_backend",
]

BACKENDS = ("local", "openai", "none")


@functools.cache
def _backend_for(pid: int) -> EmbeddingBackend | None:
    # Keyed by pid so a forked child builds its own client/session rather than sharing the parent's.
    name = str(settings.EMBEDDINGS_BACKEND).strip().lower()
    if name == "none":
        return None
    if name == "local":
        return LocalBackend(
            settings.EMBEDDINGS_MODEL or "all-MiniLM-L6-v2",
            batch_size=settings.EMBEDDINGS_BATCH_SIZE,
            threads=settings.EMBEDDINGS_THREADS,
        )
    if name == "openai":
        if not settings.EMBEDDINGS_MODEL:
            raise ImproperlyConfigured(
                "EMBEDDINGS_BACKEND=openai needs EMBEDDINGS_MODEL (e.g. text-embedding-3-small, nomic-embed-text)."
            )
        return OpenAICompatibleBackend(
            base_url=settings.OPENAI_EMBEDDINGS_BASE_URL,
            model=settings.EMBEDDINGS_MODEL,
            api_key=settings.OPENAI_EMBEDDINGS_API_KEY,
            dimension=settings.EMBEDDINGS_DIMENSION,
            batch_size=settings.EMBEDDINGS_BATCH_SIZE,
            timeout=settings.EMBEDDINGS_TIMEOUT_SECONDS,
            max_retries=settings.EMBEDDINGS_MAX_RETRIES,
        )
    raise ImproperlyConfigured(
        f"EMBEDDINGS_BACKEND={settings.EMBEDDINGS_BACKEND!r} is not a known embedding backend; "
        f"use one of: {', '.join(BACKENDS)}."
    )


def get_backend() -> EmbeddingBackend | None:
    """The configured backend, created once per process; ``None`` when ``EMBEDDINGS_BACKEND=none``.

    Creating it is cheap: the local model loads at its first ``embed()``.
    """
    return _backend_for(os.getpid())


def reset_backend() -> None:
    """Forget the cached backend (tests, or after changing settings at run time)."""
    _backend_for.cache_clear()


def embed_query(text: str) -> np.ndarray | None:
    """One text as a 1-D unit vector, or ``None`` when embeddings are switched off."""
    backend = get_backend()
    if backend is None:
        return None
    return backend.embed([text])[0]
