"""Operational state kept in Redis: worker heartbeats, beat ticks, task counters, queue reads.

That Redis is the broker when the broker is Redis, and ``REDIS_URL`` beside a RabbitMQ broker
(``settings.OPERATIONS_REDIS_URL``); queue depths then come from RabbitMQ (``botsmith.rabbitmq``).
Every key carries the broker's ``global_keyprefix`` (``CELERY_BROKER_KEY_PREFIX``), so a deployment
(or a test run) sharing a Redis database with others sees only its own workers, queues and counters.
Every client here has short socket timeouts: a probe or a scrape must answer quickly even when Redis does not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from django.conf import settings

SOCKET_TIMEOUT = 0.5
WORKERS_KEY = "botsmith:workers"  # sorted set: worker hostname -> last beat (unix time)
WORKER_INFO_KEY = "botsmith:workers:info"  # hash: worker hostname -> JSON {queues, pid}
BEAT_LAST_TICK_KEY = "botsmith:beat:last_tick"
BEAT_TICKS_KEY = "botsmith:beat:ticks"
TASK_EVENTS_KEY = "botsmith:metrics:task_events"  # hash: "task|event" -> count
TASK_DURATION_KEY = "botsmith:metrics:task_duration"  # hash: "task|bucket index" / "task|sum" / "task|count"
TASK_WAIT_KEY = "botsmith:metrics:task_wait"  # hash: "queue|bucket index" / "queue|sum" / "queue|count"

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def is_redis_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("redis://", "rediss://", "unix://"))


def broker_url(app: Celery) -> str:
    return str(app.conf.broker_url or "")


def is_amqp_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("amqp://", "amqps://", "pyamqp://"))


def operations_redis_url(app: Celery) -> str:
    """The Redis holding this app's heartbeats, ticks and counters; empty when there is none."""
    url = broker_url(app)
    if is_redis_url(url):
        return url
    if is_amqp_url(url):
        return str(getattr(settings, "OPERATIONS_REDIS_URL", "") or "")
    return ""  # the embedded file-system broker


def key_prefix(app: Celery) -> str:
    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix")
    return str(prefix if prefix is not None else getattr(settings, "OPERATIONS_KEY_PREFIX", ""))


def client_for(url: str) -> redis.Redis:
    """One pooled client per URL (thread-safe), with timeouts short enough for a probe."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, retry_on_timeout=False
            )
            _clients[url] = client
        return client


class Telemetry:
    """Reads and writes of operational keys for one Celery app (its operations Redis and key prefix)."""

    def __init__(self, app: Celery) -> None:
        url = operations_redis_url(app)
        if not url:
            raise ValueError("no Redis for operational state (the broker is not Redis and REDIS_URL is empty)")
        self.prefix = key_prefix(app)
        self.client = client_for(url)
        # Queue lists are Redis keys only when Redis is the broker; RabbitMQ is asked separately.
        self.reads_queues = is_redis_url(broker_url(app))

    @classmethod
    def for_app(cls, app: Celery) -> Telemetry | None:
        """None when there is no Redis to publish to (the embedded broker, or REDIS_URL empty)."""
        return cls(app) if operations_redis_url(app) else None

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # --- Worker heartbeats ------------------------------------------------------------------
    def beat_worker(self, hostname: str, queues: Iterable[str], pid: int, stale_after: float) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.key(WORKERS_KEY), {hostname: now})
        pipe.hset(self.key(WORKER_INFO_KEY), hostname, json.dumps({"queues": sorted(queues), "pid": pid}))
        # Forget workers that died without a clean shutdown, so the set stays small.
        pipe.zremrangebyscore(self.key(WORKERS_KEY), "-inf", now - 10 * stale_after)
        pipe.execute()

    def forget_worker(self, hostname: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.key(WORKERS_KEY), hostname)
        pipe.hdel(self.key(WORKER_INFO_KEY), hostname)
        pipe.execute()

    def count_live_workers(self, stale_after: float) -> int:
        """One round trip; raises ``redis.RedisError`` when the broker is unreachable."""
        return int(self.client.zcount(self.key(WORKERS_KEY), time.time() - stale_after, "+inf"))

    # --- Beat -------------------------------------------------------------------------------
    def record_beat_tick(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.key(BEAT_LAST_TICK_KEY), time.time())
        pipe.incr(self.key(BEAT_TICKS_KEY))
        pipe.execute()

    # --- Task counters and histograms -------------------------------------------------------
    def record_task_event(self, task: str, event: str) -> None:
        self.client.hincrby(self.key(TASK_EVENTS_KEY), f"{task}|{event}", 1)

    def observe(self, key_name: str, label: str, value: float, buckets: tuple[float, ...]) -> None:
        """Non-cumulative bucket counts (one increment per observation); cumulated at scrape time."""
        index = next((i for i, bound in enumerate(buckets) if value <= bound), len(buckets))
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.key(key_name), f"{label}|{index}", 1)
        pipe.hincrbyfloat(self.key(key_name), f"{label}|sum", value)
        pipe.hincrby(self.key(key_name), f"{label}|count", 1)
        pipe.execute()

    # --- One snapshot for details and metrics -----------------------------------------------
    def snapshot(self, queues: Iterable[str], *, with_metrics: bool = False) -> Snapshot:
        """Queue depths, oldest message per queue, workers, beat (and counters): one pipeline."""
        queue_names = list(queues) if self.reads_queues else []
        pipe = self.client.pipeline(transaction=False)
        pipe.zrange(self.key(WORKERS_KEY), 0, -1, withscores=True)
        pipe.hgetall(self.key(WORKER_INFO_KEY))
        pipe.get(self.key(BEAT_LAST_TICK_KEY))
        pipe.get(self.key(BEAT_TICKS_KEY))
        for name in queue_names:
            pipe.llen(self.key(name))
            # kombu pushes on the left and consumes from the right: index -1 waited longest.
            pipe.lindex(self.key(name), -1)
        if with_metrics:
            pipe.hgetall(self.key(TASK_EVENTS_KEY))
            pipe.hgetall(self.key(TASK_DURATION_KEY))
            pipe.hgetall(self.key(TASK_WAIT_KEY))
        replies = pipe.execute()
        now = time.time()
        workers_raw, info_raw, last_tick, ticks = replies[:4]
        snap = Snapshot(now=now)
        for member, score in workers_raw:
            name = _text(member)
            info = _json(info_raw.get(member)) or {}
            snap.workers.append(WorkerBeat(name, float(score), list(info.get("queues", []))))
        snap.beat_last_tick = float(last_tick) if last_tick is not None else None
        snap.beat_ticks = int(ticks or 0)
        for i, name in enumerate(queue_names):
            depth, oldest = replies[4 + 2 * i], replies[5 + 2 * i]
            snap.queues[name] = QueueState(int(depth or 0), _message_sent_at(oldest))
        if with_metrics:
            events, durations, waits = replies[4 + 2 * len(queue_names):]
            snap.task_events = {_text(k): int(v) for k, v in events.items()}
            snap.task_durations = {_text(k): float(v) for k, v in durations.items()}
            snap.task_waits = {_text(k): float(v) for k, v in waits.items()}
        return snap


@dataclass
class WorkerBeat:
    name: str
    last_beat: float
    queues: list[str]


@dataclass
class QueueState:
    depth: int
    oldest_sent_at: float | None  # None: empty, or the oldest message predates the ``sent_at`` header


@dataclass
class Snapshot:
    now: float
    workers: list[WorkerBeat] = field(default_factory=list)
    queues: dict[str, QueueState] = field(default_factory=dict)
    beat_last_tick: float | None = None
    beat_ticks: int = 0
    task_events: dict[str, int] = field(default_factory=dict)
    task_durations: dict[str, float] = field(default_factory=dict)
    task_waits: dict[str, float] = field(default_factory=dict)

    def live_workers(self, stale_after: float) -> list[WorkerBeat]:
        return [w for w in self.workers if self.now - w.last_beat <= stale_after]

    def oldest_age(self, queue: str) -> float:
        state = self.queues.get(queue)
        if state is None or state.depth == 0 or state.oldest_sent_at is None:
            return 0.0
        return max(0.0, self.now - state.oldest_sent_at)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _message_sent_at(raw: Any) -> float | None:
    message = _json(raw)
    if not isinstance(message, dict):
        return None
    sent_at = (message.get("headers") or {}).get("sent_at")
    return float(sent_at) if isinstance(sent_at, int | float) else None
