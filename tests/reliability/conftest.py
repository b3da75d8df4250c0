"""Reliability fixtures: a private Redis a test may stop and restart, and a worker and app bound to it.

Outage tests never touch the shared Redis other test runs use: each starts its own ``redis-server``
with the production configuration (``deploy/redis/redis.conf``: append-only persistence) on a free
port, in a temporary directory.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.core.files.base import ContentFile

from sources.models import Source
from sources.services import dispatch
from tests.reliability.postgres import limited_role, pg_proxy  # noqa: F401 - fixtures of the PostgreSQL tests
from tests.worker import BASE_DIR, WorkerProcess

REDIS_CONF = BASE_DIR / "deploy" / "redis" / "redis.conf"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One private ``redis-server``; ``stop()`` then ``start()`` restarts it on the same port and data."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=5)

    def start(self, timeout: float = 10.0) -> RedisServer:
        assert self.proc is None, "already running"
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        # Command-line options override the config file: same persistence, our own port and files.
        args = [server, str(REDIS_CONF), "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                str(self.directory), "--appendonly", "yes", "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"redis-server exited:\n{self.log_tail()}")
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server not answering after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown (SIGTERM): Redis flushes its append-only file, as `systemctl restart` does."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.directory / "redis.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class PrivateBroker:
    """A private Redis, a Celery app that sends to it, and the workers started on it."""

    def __init__(self, server: RedisServer, start_worker: Callable[..., WorkerProcess]) -> None:
        self.server = server
        self.prefix = f"outage-{uuid.uuid4().hex[:8]}:"
        self.app = Celery(f"outage-{self.prefix}", set_as_current=False)
        self.app.config_from_object("django.conf:settings", namespace="CELERY")
        self.app.conf.broker_url = server.url
        self.app.conf.broker_transport_options = {
            **(self.app.conf.broker_transport_options or {}), "global_keyprefix": self.prefix,
        }
        self.workers: list[WorkerProcess] = []
        self._start_worker = start_worker

    def start_worker(self, *, wait: bool = True, env: dict[str, str] | None = None, **kwargs) -> WorkerProcess:
        worker_env = {"CELERY_BROKER_URL": self.server.url, "CELERY_BROKER_KEY_PREFIX": self.prefix, **(env or {})}
        worker = self._start_worker(env=worker_env, wait=False, **kwargs)
        self.workers.append(worker)
        if wait:
            worker.wait_ready(self.app)
        return worker

    def send(self, source: Source):
        return self.app.send_task(dispatch.task_name_for(source), kwargs={"source_id": source.pk},
                                  task_id=source.task_id)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.app.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Factory: ``own_redis()`` starts a private Redis (``start=False`` only prepares it); all stop at teardown."""
    servers: list[RedisServer] = []

    def make(*, start: bool = True) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(directory)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def private_broker(own_redis: Callable[..., RedisServer], start_worker) -> Iterator[PrivateBroker]:
    """A running private Redis with an app bound to it; workers started through it stop before Redis does."""
    broker = PrivateBroker(own_redis(), start_worker)
    yield broker
    broker.close()


@pytest.fixture
def file_source() -> Callable[..., Source]:
    """Factory: a committed, pending file source with a fresh task id, as the upload service leaves it."""

    def make(chatbot, data: bytes, name: str = "big.csv", **fields) -> Source:
        source = Source(chatbot=chatbot, kind=Source.Kind.FILE, name=name, original_filename=name,
                        file_kind=name.rsplit(".", 1)[-1], size_bytes=len(data), **fields)
        dispatch.prepare_run(source)
        source.status = Source.Status.PENDING  # admitted to a free slot (fair queues), as publish() leaves it
        source.file.save(name, ContentFile(data), save=False)
        source.save()
        return source

    return make

