"""Fixtures of the retrieval tests: the embedding backend chosen per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from retrieval import vectors
from retrieval.embeddings import reset_backend


@pytest.fixture
def keyword_only() -> Iterator[None]:
    """This process searches without vectors (``EMBEDDINGS_BACKEND=none``)."""
    with override_settings(EMBEDDINGS_BACKEND="none"):
        reset_backend()
        yield
    reset_backend()


@pytest.fixture(autouse=True)
def _fresh_vector_cache() -> Iterator[None]:
    vectors.cache.clear()
    yield
    vectors.cache.clear()
