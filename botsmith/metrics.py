"""Prometheus metrics, collected at scrape time from the operations Redis, RabbitMQ's queues and the database.

Why at scrape time rather than prometheus_client's multiprocess mode: tasks run in prefork children
that Celery recycles, on several hosts, while /metrics is served by web processes elsewhere. A
per-host ``PROMETHEUS_MULTIPROC_DIR`` cannot be read from another host and leaks files of dead
children. Workers instead add to a few Redis hashes (``botsmith.instrumentation``), which any web
process reads in one pipeline; Prometheus sees cluster-wide counters and handles their reset if
Redis is flushed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

import redis
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .celery import app
from .health import snapshot
from .telemetry import DURATION_BUCKETS, WAIT_BUCKETS, Snapshot, Telemetry

logger = logging.getLogger(__name__)

TASK_EVENTS = ("started", "succeeded", "failed", "retried")


class BotsmithCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from self._broker_metrics()
        yield from self._database_metrics()

    def _broker_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("botsmith_broker_up", "1 when the broker and the operations Redis answered this scrape.")
        telemetry = Telemetry.for_app(app)
        if telemetry is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            snap = snapshot(telemetry, with_metrics=True)
        except (redis.RedisError, OSError) as exc:
            logger.warning("metrics: broker unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _queue_metrics(snap)
        yield from _worker_metrics(snap)
        yield from _task_metrics(snap)

    def _database_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("botsmith_database_up", "1 when the database answered this scrape.")
        sources = GaugeMetricFamily("botsmith_sources", "Sources by status and kind.", labels=["status", "kind"])
        failed = GaugeMetricFamily("botsmith_sources_failed", "Failed sources by error code.", labels=["error_code"])
        chunks = GaugeMetricFamily("botsmith_chunks_stored", "Chunks stored, summed over sources.")
        # The sources app builds on this one; look its model up instead of importing it.
        Source = apps.get_model("sources", "Source")
        try:
            by_status = list(Source.objects.values_list("status", "kind").annotate(n=Count("id")).order_by())
            by_code = list(Source.objects.filter(status="failed").values_list("error_code")
                           .annotate(n=Count("id")).order_by())
            total_chunks = Source.objects.aggregate(n=Sum("chunk_count"))["n"] or 0
        except DatabaseError as exc:
            logger.warning("metrics: database unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for status, kind, n in sorted(by_status):
            sources.add_metric([status, kind], n)
        yield sources
        for code, n in sorted(by_code, key=lambda row: row[0] or ""):
            failed.add_metric([code or "unknown"], n)
        yield failed
        chunks.add_metric([], total_chunks)
        yield chunks


def _queue_metrics(snap: Snapshot) -> Iterator[Metric]:
    depth = GaugeMetricFamily("botsmith_queue_depth", "Messages waiting in a queue.", labels=["queue"])
    age = GaugeMetricFamily(
        "botsmith_queue_oldest_message_age_seconds", "Age of the message that has waited longest.", labels=["queue"]
    )
    for name, state in sorted(snap.queues.items()):
        depth.add_metric([name], state.depth)
        age.add_metric([name], snap.oldest_age(name))
    yield depth
    yield age


def _worker_metrics(snap: Snapshot) -> Iterator[Metric]:
    live = snap.live_workers(settings.WORKER_HEARTBEAT_TTL_SECONDS)
    workers = GaugeMetricFamily("botsmith_workers_up", "Workers with a recent heartbeat.")
    workers.add_metric([], len(live))
    yield workers
    per_queue = GaugeMetricFamily("botsmith_queue_workers", "Workers with a recent heartbeat consuming a queue.",
                                  labels=["queue"])
    for name in sorted(snap.queues):
        per_queue.add_metric([name], sum(1 for w in live if name in w.queues))
    yield per_queue
    ticks = CounterMetricFamily("botsmith_beat_ticks", "Ticks of the beat scheduler.")
    ticks.add_metric([], snap.beat_ticks)
    yield ticks
    last = GaugeMetricFamily("botsmith_beat_last_tick_timestamp_seconds", "Unix time of beat's last tick.")
    last.add_metric([], snap.beat_last_tick or 0)
    yield last


def _task_metrics(snap: Snapshot) -> Iterator[Metric]:
    events = CounterMetricFamily("botsmith_task_events", "Task runs by outcome (started, succeeded, failed, "
                                 "retried).", labels=["task", "event"])
    for field, count in sorted(snap.task_events.items()):
        task, _, event = field.rpartition("|")
        events.add_metric([task, event], count)
    yield events
    yield _histogram("botsmith_task_duration_seconds", "Run time of a task (prerun to postrun).", "task",
                     snap.task_durations, DURATION_BUCKETS)
    yield _histogram("botsmith_task_wait_seconds", "Time from enqueue to the start of the first run.", "queue",
                     snap.task_waits, WAIT_BUCKETS)


def _histogram(name: str, doc: str, label: str, fields: dict[str, float], bounds: tuple[float, ...]) -> Metric:
    """Cumulate the per-bucket counts the workers store (one increment per observation)."""
    per_label: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in fields.items():
        key, _, part = field.rpartition("|")
        per_label[key][part] = value
    family = HistogramMetricFamily(name, doc, labels=[label])
    for key, parts in sorted(per_label.items()):
        running, buckets = 0.0, []
        for i, bound in enumerate(bounds):
            running += parts.get(str(i), 0)
            buckets.append((_bound(bound), running))
        buckets.append(("+Inf", parts.get("count", running + parts.get(str(len(bounds)), 0))))
        family.add_metric([key], buckets, parts.get("sum", 0.0))
    return family


def _bound(value: float) -> str:
    return repr(float(value))


def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(BotsmithCollector())
    return reg

