"""A real local server that speaks OpenAI's ``POST /v1/embeddings`` protocol, for backend and worker tests.

``with serve_embeddings(dimension=8) as server:`` gives ``server.base_url`` (``http://127.0.0.1:PORT/v1``),
``server.requests`` (every request body and headers, in order) and ``server.script``: a list of
``Scripted`` replies consumed one per request before the default success reply. Vectors are a
deterministic function of the text (``vector_for``) and deliberately not unit length.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def vector_for(text: str, dimension: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    return (np.random.default_rng(seed).normal(size=dimension) * 3.0).tolist()


@dataclass
class Scripted:
    status: int
    body: Any = None  # dict -> JSON; str -> text/plain
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class EmbeddingServer:
    dimension: int
    base_url: str = ""
    reverse_order: bool = False  # answer data[] in reverse, as servers may (index says which is which)
    script: list[Scripted] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, payload: dict[str, Any]) -> Scripted:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        texts = payload["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": vector_for(text, self.dimension)}
            for i, text in enumerate(texts)
        ]
        if self.reverse_order:
            data.reverse()
        return Scripted(200, {"object": "list", "model": payload["model"], "data": data, "usage": {}})


def _handler(server: EmbeddingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            payload = json.loads(raw)
            with server.lock:
                server.requests.append({"path": self.path, "body": payload, "headers": dict(self.headers)})
            if self.path != "/v1/embeddings":
                answer = Scripted(404, {"error": {"message": f"no route {self.path}"}})
            else:
                answer = server.reply(payload)
            if answer.delay:
                time.sleep(answer.delay)
            if isinstance(answer.body, str):
                body, content_type = answer.body.encode(), "text/plain"
            else:
                body, content_type = json.dumps(answer.body).encode(), "application/json"
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                pass

    return Handler


@contextmanager
def serve_embeddings(dimension: int = 8, **options: Any) -> Iterator[EmbeddingServer]:
    state = EmbeddingServer(dimension=dimension, **options)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
