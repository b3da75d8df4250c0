"""get_backend() and embed_query(): the backend chosen by settings, created once per process."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from retrieval.embeddings import LocalBackend, OpenAICompatibleBackend, embed_query, get_backend
from tests.retrieval.embeddings.embedding_server import EmbeddingServer

pytestmark = pytest.mark.usefixtures("fresh_backend_cache")


def test_defaults_pick_the_local_model_on_all_cores() -> None:
    backend = get_backend()

    assert isinstance(backend, LocalBackend)
    assert backend.key == "local:all-MiniLM-L6-v2:384" and backend.batch_size == 32
    assert backend.threads >= 1
    assert get_backend() is backend  # cached: the model loads once per process


@override_settings(EMBEDDINGS_BACKEND="none")
def test_none_means_keyword_only() -> None:
    assert get_backend() is None
    assert embed_query("anything") is None


@override_settings(EMBEDDINGS_BACKEND="pinecone")
def test_unknown_backend_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"EMBEDDINGS_BACKEND='pinecone'.*local, openai, none"):
        get_backend()


@override_settings(EMBEDDINGS_BACKEND="openai", EMBEDDINGS_MODEL="")
def test_openai_needs_a_model_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="EMBEDDINGS_MODEL"):
        get_backend()


def test_openai_settings_reach_the_backend_and_embed_query(embedding_server: EmbeddingServer) -> None:
    with override_settings(
        EMBEDDINGS_BACKEND="OpenAI",
        EMBEDDINGS_MODEL="text-embedding-3-small",
        OPENAI_EMBEDDINGS_BASE_URL=embedding_server.base_url + "/",
        OPENAI_EMBEDDINGS_API_KEY="sk-from-env",
        EMBEDDINGS_DIMENSION=8,
        EMBEDDINGS_BATCH_SIZE=5,
        EMBEDDINGS_TIMEOUT_SECONDS=7.0,
        EMBEDDINGS_MAX_RETRIES=1,
    ):
        backend = get_backend()
        vector = embed_query("where is my order?")

    assert isinstance(backend, OpenAICompatibleBackend)
    assert (backend.key, backend.batch_size, backend.timeout, backend.max_retries) == (
        "openai:text-embedding-3-small:8",
        5,
        7.0,
        1,
    )
    assert vector is not None and vector.shape == (8,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-6)
    (request,) = embedding_server.requests
    assert request["headers"]["Authorization"] == "Bearer sk-from-env"
    assert request["body"] == {"model": "text-embedding-3-small", "input": ["where is my order?"]}
