"""The openai backend: any server that speaks OpenAI's ``POST {base}/embeddings`` (OpenAI, Azure, Ollama, vLLM, TEI)."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import requests

from .base import EmbeddingError, backend_key, l2_normalise

logger = logging.getLogger(__name__)

# A Retry-After longer than this is not slept through inside a task: we give up at once with a
# transient error so the caller's retry schedule (Celery countdown) takes over and frees the worker.
MAX_WAIT_SECONDS = 60.0
RETRYABLE_STATUS = {408, 409, 425, 429}


class OpenAICompatibleBackend:
    """Batches texts into ``{"model", "input": [...]}`` requests and returns unit vectors in input order.

    ``base_url`` is operator configuration, not user input, so it deliberately does not go through
    the scraper's SSRF guard: an embedding server on localhost or the private network (Ollama, TEI,
    vLLM next to the worker) is the common self-hosted set-up.

    When ``dimension`` is not configured it is learnt from the first response (and, if ``key`` or
    ``dimension`` is read before any call, from a one-text probe request); every later response is
    checked against it.
    """

    backend = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        dimension: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.batch_size = max(1, batch_size)
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._dimension = dimension or None
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    @property
    def key(self) -> str:
        return backend_key(self.backend, self.model, self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        parts = [self._embed_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        if not parts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        return np.concatenate(parts)

    # --- one request ----------------------------------------------------------------------

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        payload = {"model": self.model, "input": texts}
        problem = ""
        for attempt in range(self.max_retries + 1):
            wait = self._backoff(attempt)
            try:
                response = self._session.post(self.url, json=payload, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._parse(response, len(texts))
                message = _server_message(response)
                problem = f"HTTP {response.status_code}: {message}"
                if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
                    raise EmbeddingError(
                        f"The embedding server at {self.url} refused the request ({problem}).", transient=False
                    )
                retry_after = _retry_after_seconds(response)
                if retry_after is not None:
                    if retry_after > MAX_WAIT_SECONDS:
                        break
                    wait = retry_after
            if attempt < self.max_retries:
                logger.warning(
                    "Embedding request to %s failed (%s); retry %d/%d in %.1f s",
                    self.url,
                    problem,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                self._sleep(wait)
        raise EmbeddingError(
            f"The embedding server at {self.url} did not answer successfully after "
            f"{self.max_retries + 1} attempts (last: {problem}).",
            transient=True,
        )

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so workers that failed together do not retry in lockstep.
        return min(MAX_WAIT_SECONDS, self.backoff_seconds * 2**attempt) * random.uniform(0.5, 1.0)

    def _parse(self, response: requests.Response, expected: int) -> np.ndarray:
        try:
            data = response.json()["data"]
            rows = sorted(data, key=lambda item: item.get("index", 0)) if all("index" in d for d in data) else data
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
            indexes = [row.get("index", n) for n, row in enumerate(rows)]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingError(
                f"The embedding server at {self.url} sent a response that is not an OpenAI embeddings "
                f"response ({type(exc).__name__}: {str(exc)[:200]}); check OPENAI_EMBEDDINGS_BASE_URL.",
                transient=False,
            ) from exc
        if len(rows) != expected or indexes != list(range(expected)) or vectors.ndim != 2:
            raise EmbeddingError(
                f"The embedding server at {self.url} returned {len(rows)} embeddings for {expected} texts.",
                transient=False,
            )
        got = vectors.shape[1]
        if self._dimension is None:
            self._dimension = got
        elif got != self._dimension:
            raise EmbeddingError(
                f"The embedding model {self.model!r} returned {got}-dimensional vectors but "
                f"EMBEDDINGS_DIMENSION is {self._dimension}; fix the setting or the model.",
                transient=False,
            )
        return l2_normalise(vectors)


def _server_message(response: requests.Response) -> str:
    """The server's own words: OpenAI ``{"error": {"message"}}``, Ollama ``{"error": "..."}``, or text."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason or ""
    if isinstance(body, dict):
        error = body.get("error", body.get("message", body))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:500]
    return str(body)[:500]


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
