"""The brokers integration tests run on, each with one isolated namespace per test.

Redis: a key prefix (``global_keyprefix``) on the shared Redis. RabbitMQ: a vhost of its own, created
with ``rabbitmqctl add_vhost`` and deleted afterwards, so parallel runs (other developers, CI) never
share a queue. A namespace carries the Celery app that sends into it and the environment a worker
needs to consume from it (the same variables production uses: ``CELERY_BROKER_URL``,
``CELERY_BROKER_KEY_PREFIX``, ``CELERY_RABBITMQ_QUORUM_QUEUES``).

Which brokers: ``TEST_BROKERS`` (comma-separated); by default both on PostgreSQL and Redis alone on
SQLite, so `make test`, which CI runs once per database, runs every RabbitMQ variant once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery
from django.conf import settings

from botsmith import rabbitmq
from tests.worker import WorkerProcess

BROKERS = ("redis", "rabbitmq")
# Host, port and credentials of the RabbitMQ the tests use; each test adds its own vhost.
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672").rstrip("/")
RABBITMQ_USER = RABBITMQ_URL.split("://", 1)[1].split(":", 1)[0]


def brokers_under_test() -> list[str]:
    chosen = os.environ.get("TEST_BROKERS", "").strip()
    if chosen:
        names = [name.strip() for name in chosen.split(",") if name.strip()]
        unknown = set(names) - set(BROKERS)
        if unknown:
            raise pytest.UsageError(f"TEST_BROKERS: unknown broker(s) {sorted(unknown)}; choose from {BROKERS}")
        return names
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return list(BROKERS)
    return ["redis"]


_vhosts: set[str] = set()  # created by this process and not deleted yet


def rabbitmqctl(*args: str) -> str:
    command = shutil.which("rabbitmqctl")
    if command is None:
        pytest.fail("rabbitmqctl not found: install rabbitmq-server (.ci/run does) or set TEST_BROKERS=redis")
    done = subprocess.run([command, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


class Namespace:
    """One test's private part of a broker: an app that sends there, and workers that consume there."""

    def __init__(self, broker: str, app: Celery, env: dict[str, str], start_worker: Callable[..., WorkerProcess],
                 close: Callable[[], None]) -> None:
        self.broker = broker
        self.app = app
        self.env = env
        self._start_worker = start_worker
        self._close = close
        self.workers: list[WorkerProcess] = []

    def start_worker(self, *, wait: bool = True, env: dict[str, str] | None = None, **kwargs: Any) -> WorkerProcess:
        worker = self._start_worker(env={**self.env, **(env or {})}, wait=False, **kwargs)
        self.workers.append(worker)
        if wait:
            worker.wait_ready(self.app)
        return worker

    def queue_length(self, queue: str) -> int:
        """Messages waiting (not delivered) in ``queue``."""
        if self.broker == "redis":
            prefix = self.env["CELERY_BROKER_KEY_PREFIX"]
            return int(redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(f"{prefix}{queue}"))
        return rabbitmq.queue_states(self.app, [queue])[queue].depth

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.app.close()
        self._close()


def _app(label: str) -> Celery:
    app = Celery(f"ns-{label}", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return app


def redis_namespace(run_prefix: str, start_worker: Callable[..., WorkerProcess]) -> Namespace:
    prefix = f"{run_prefix}ns-{uuid.uuid4().hex[:8]}:"
    app = _app(prefix)
    app.conf.broker_transport_options = {**(app.conf.broker_transport_options or {}), "global_keyprefix": prefix}

    def close() -> None:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)

    return Namespace("redis", app, {"CELERY_BROKER_KEY_PREFIX": prefix}, start_worker, close)


def rabbitmq_namespace(run_prefix: str, start_worker: Callable[..., WorkerProcess], *,
                       quorum: bool = False, url: str | None = None) -> Namespace:
    """A fresh vhost; ``url`` overrides host and port (a proxy in front of RabbitMQ), keeping the vhost."""
    vhost = f"{run_prefix.rstrip(':')}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    _vhosts.add(vhost)
    rabbitmqctl("set_permissions", "-p", vhost, RABBITMQ_USER, ".*", ".*", ".*")
    broker_url = f"{(url or RABBITMQ_URL).rstrip('/')}/{vhost}"
    # Heartbeats and counters go to the shared Redis (REDIS_URL) under a prefix of their own.
    prefix = f"{run_prefix}{vhost}:"
    env = {"CELERY_BROKER_URL": broker_url, "CELERY_BROKER_KEY_PREFIX": prefix,
           "CELERY_RABBITMQ_QUORUM_QUEUES": "true" if quorum else "false"}
    app = _app(vhost)
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {"confirm_publish": True, "global_keyprefix": prefix}
    if quorum:
        from kombu import Exchange, Queue

        app.conf.task_queues = [
            Queue(q.name, Exchange(q.name, type="topic"), routing_key=q.name,
                  queue_arguments={"x-queue-type": "quorum"})
            for q in settings.CELERY_TASK_QUEUES
        ]
        app.conf.task_default_exchange_type = "topic"

    def close() -> None:
        rabbitmqctl("delete_vhost", vhost)
        _vhosts.discard(vhost)

    return Namespace("rabbitmq", app, env, start_worker, close)


def delete_leftover_vhosts() -> None:
    """Vhosts of tests cut short (a failed fixture, Ctrl-C): dropped at the end of the run."""
    for vhost in sorted(_vhosts):
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60, check=False)
        _vhosts.discard(vhost)


def check_rabbitmq() -> None:
    """Fail loudly (never skip) when RabbitMQ is down: the RabbitMQ variants are part of `make test`."""
    app = Celery("rabbitmq-probe", broker=f"{RABBITMQ_URL}/", set_as_current=False)
    try:
        rabbitmq.broker_answers(app)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {RABBITMQ_URL} is unreachable ({exc}); start it (`rabbitmq-server -detached`, "
                    "as .ci/run does) or run with TEST_BROKERS=redis.")
    finally:
        app.close()
