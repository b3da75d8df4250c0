"""The OpenAI-compatible backend against a real local HTTP server speaking the same protocol."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from retrieval.embeddings import EmbeddingError, OpenAICompatibleBackend
from retrieval.embeddings.openai_compat import MAX_WAIT_SECONDS
from tests.retrieval.embeddings.embedding_server import EmbeddingServer, Scripted, serve_embeddings, vector_for


def unit(text: str, dimension: int = 8) -> np.ndarray:
    v = np.asarray(vector_for(text, dimension), dtype=np.float32)
    return v / np.linalg.norm(v)


def make(server: EmbeddingServer, sleeps: list[float] | None = None, **options: object) -> OpenAICompatibleBackend:
    settings: dict = {"model": "nomic-embed-text", "dimension": 8, "batch_size": 64, "max_retries": 3, "timeout": 5.0}
    settings.update(options)
    recorded = sleeps if sleeps is not None else []
    return OpenAICompatibleBackend(base_url=server.base_url, sleep=recorded.append, **settings)


def test_success_returns_unit_rows_in_input_order_and_sends_model_and_key(embedding_server: EmbeddingServer) -> None:
    backend = make(embedding_server, api_key="sk-test-123")
    texts = ["refund policy", "opening hours", "warranty"]

    vectors = backend.embed(texts)

    assert vectors.dtype == np.float32 and vectors.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)  # server vectors have norm ~8
    for row, text in zip(vectors, texts, strict=True):
        np.testing.assert_allclose(row, unit(text), atol=1e-6)
    (request,) = embedding_server.requests
    assert request["path"] == "/v1/embeddings"
    assert request["body"] == {"model": "nomic-embed-text", "input": texts}
    assert request["headers"]["Authorization"] == "Bearer sk-test-123"
    assert backend.key == "openai:nomic-embed-text:8"


def test_no_authorization_header_without_a_key(embedding_server: EmbeddingServer) -> None:
    make(embedding_server, api_key="").embed(["hello"])

    assert "Authorization" not in embedding_server.requests[0]["headers"]


def test_batches_are_split_by_batch_size_and_reassembled_in_order(embedding_server: EmbeddingServer) -> None:
    texts = [f"text {n}" for n in range(5)]

    vectors = make(embedding_server, batch_size=2).embed(texts)

    assert [r["body"]["input"] for r in embedding_server.requests] == [texts[0:2], texts[2:4], texts[4:5]]
    np.testing.assert_allclose(vectors, np.stack([unit(t) for t in texts]), atol=1e-6)


def test_out_of_order_index_is_matched_back_to_the_input() -> None:
    with serve_embeddings(dimension=8, reverse_order=True) as server:
        texts = ["alpha", "beta", "gamma", "delta"]
        vectors = make(server).embed(texts)

    np.testing.assert_allclose(vectors, np.stack([unit(t) for t in texts]), atol=1e-6)


def test_429_honours_retry_after_then_succeeds(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(
        Scripted(429, {"error": {"message": "Rate limit reached"}}, headers={"Retry-After": "2"})
    )
    sleeps: list[float] = []

    vectors = make(embedding_server, sleeps).embed(["hello"])

    assert sleeps == [2.0]
    assert len(embedding_server.requests) == 2
    np.testing.assert_allclose(vectors[0], unit("hello"), atol=1e-6)


def test_500s_back_off_exponentially_then_give_up_as_transient(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.extend(Scripted(500, "upstream exploded") for _ in range(10))
    sleeps: list[float] = []

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server, sleeps, max_retries=3, backoff_seconds=0.5).embed(["hello"])

    assert caught.value.transient is True
    assert "HTTP 500" in caught.value.message and "upstream exploded" in caught.value.message
    assert len(embedding_server.requests) == 4  # 1 try + 3 retries
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):  # 0.5 * 2**attempt, jittered down to half at most
        assert 0.25 * 2**attempt <= wait <= 0.5 * 2**attempt


def test_retry_after_longer_than_we_wait_gives_up_at_once(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(Scripted(503, {"error": "overloaded"}, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server, sleeps).embed(["hello"])

    assert caught.value.transient is True
    assert sleeps == [] and len(embedding_server.requests) == 1
    assert MAX_WAIT_SECONDS < 3600


def test_401_is_permanent_with_the_servers_message_and_no_retry(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(Scripted(401, {"error": {"message": "Incorrect API key provided: sk-te***"}}))

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server, api_key="sk-wrong").embed(["hello"])

    assert caught.value.transient is False
    assert "HTTP 401" in caught.value.message and "Incorrect API key provided" in caught.value.message
    assert len(embedding_server.requests) == 1


def test_wrong_dimension_is_permanent(embedding_server: EmbeddingServer) -> None:
    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server, dimension=384).embed(["hello"])

    assert caught.value.transient is False
    assert "8-dimensional" in caught.value.message and "EMBEDDINGS_DIMENSION is 384" in caught.value.message


def test_dimension_learnt_from_the_first_response_is_checked_on_later_ones(embedding_server: EmbeddingServer) -> None:
    backend = make(embedding_server, dimension=None)
    assert backend.key == "openai:nomic-embed-text:8"  # probes the server once
    embedding_server.dimension = 12  # the operator swapped the model behind the same name

    with pytest.raises(EmbeddingError) as caught:
        backend.embed(["hello"])

    assert caught.value.transient is False
    assert len(embedding_server.requests) == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    backend = OpenAICompatibleBackend(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", dimension=8, max_retries=2, sleep=sleeps.append
    )

    with pytest.raises(EmbeddingError) as caught:
        backend.embed(["hello"])

    assert caught.value.transient is True and "ConnectionError" in caught.value.message
    assert len(sleeps) == 2


def test_timeout_is_transient(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(Scripted(200, {"data": []}, delay=1.0))

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server, timeout=0.2, max_retries=0).embed(["hello"])

    assert caught.value.transient is True and "Timeout" in caught.value.message


def test_a_response_that_is_not_an_embeddings_response_is_permanent(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(Scripted(200, "<html>login page</html>"))

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server).embed(["hello"])

    assert caught.value.transient is False and "OPENAI_EMBEDDINGS_BASE_URL" in caught.value.message


def test_missing_rows_are_permanent(embedding_server: EmbeddingServer) -> None:
    embedding_server.script.append(Scripted(200, {"data": [{"index": 0, "embedding": [1.0] * 8}]}))

    with pytest.raises(EmbeddingError) as caught:
        make(embedding_server).embed(["one", "two"])

    assert caught.value.transient is False and "1 embeddings for 2 texts" in caught.value.message


def test_no_texts_means_no_request(embedding_server: EmbeddingServer) -> None:
    vectors = make(embedding_server).embed([])

    assert vectors.shape == (0, 8) and embedding_server.requests == []
