"""Fixtures of the embedding tests: one local model per session, a fake OpenAI-compatible server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retrieval.embeddings import LocalBackend, reset_backend
from tests.retrieval.embeddings.embedding_server import EmbeddingServer, serve_embeddings


@pytest.fixture(scope="session")
def local_backend() -> LocalBackend:
    """Loaded once: building the ONNX session takes about 2 s."""
    backend = LocalBackend("all-MiniLM-L6-v2", batch_size=32, threads=2)
    backend.load()
    return backend


@pytest.fixture
def embedding_server() -> Iterator[EmbeddingServer]:
    with serve_embeddings(dimension=8) as server:
        yield server


@pytest.fixture
def fresh_backend_cache() -> Iterator[None]:
    reset_backend()
    yield
    reset_backend()
