"""The contract every embedding backend keeps, and the error it raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class EmbeddingError(Exception):
    """An embedding call failed.

    ``transient=True``: worth retrying later (network, 429, 5xx, timeouts); ``False``: configuration or
    permanent (bad key, wrong dimension, model missing), retrying will not help until an operator acts.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class EmbeddingBackend(Protocol):
    backend: str  # "local" | "openai"
    model: str
    dimension: int
    batch_size: int  # texts per embed() call the caller should use

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(len(texts), dimension)``, every row L2-normalised."""
        ...

    @property
    def key(self) -> str:
        """``backend:model:dimension``, stored with every vector so two models never mix in a ranking."""
        ...


def backend_key(backend: str, model: str, dimension: int) -> str:
    return f"{backend}:{model}:{dimension}"


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))
