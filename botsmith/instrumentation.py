"""Worker-side instrumentation: the heartbeat bootstep, task counters and timings, and per-task log context.

Everything here is best effort: a Redis hiccup is logged and never fails a task or stops a worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import redis
from celery import Celery, bootsteps, signals
from django.apps import apps
from django.conf import settings

from . import logs
from .telemetry import DURATION_BUCKETS, TASK_DURATION_KEY, TASK_WAIT_KEY, WAIT_BUCKETS, Telemetry

logger = logging.getLogger(__name__)

# Tasks whose first positional argument is a source id (their log lines carry source and chatbot ids).
SOURCE_TASK_PREFIXES = ("sources.tasks.", "retrieval.tasks.embed_source")

_started: dict[str, float] = {}  # task id -> monotonic start, per pool process


def _telemetry(app: Celery) -> Telemetry | None:
    return Telemetry.for_app(app)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Publishes ``hostname -> now`` in a Redis sorted set every few seconds; removed on clean shutdown.

    The broker's Redis, or ``REDIS_URL`` when the broker is RabbitMQ.

    Readiness counts workers whose last beat is recent: one ZCOUNT instead of a broadcast ping.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._telemetry: Telemetry | None = None

    def start(self, parent: Any) -> None:
        self._telemetry = _telemetry(parent.app)
        if self._telemetry is None:
            logger.info("worker heartbeat: no Redis (embedded broker or REDIS_URL empty); readiness pings instead")
            return
        queues = parent.app.amqp.queues.consume_from or parent.app.amqp.queues
        hostname, names = parent.hostname, sorted(queues)
        self._thread = threading.Thread(target=self._run, args=(hostname, names), name="botsmith-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _run(self, hostname: str, queues: list[str]) -> None:
        interval = settings.WORKER_HEARTBEAT_INTERVAL_SECONDS
        assert self._telemetry is not None
        while True:
            try:
                self._telemetry.beat_worker(hostname, queues, os.getpid(), settings.WORKER_HEARTBEAT_TTL_SECONDS)
            except redis.RedisError as exc:
                logger.warning("worker heartbeat: could not publish: %s", exc)
            if self._stop.wait(interval):
                return

    def stop(self, parent: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._telemetry is not None:
            try:
                self._telemetry.forget_worker(parent.hostname)
            except redis.RedisError as exc:
                logger.warning("worker heartbeat: could not remove %s: %s", parent.hostname, exc)

    shutdown = stop


def install(app: Celery) -> None:
    app.steps["worker"].add(WorkerHeartbeat)


@signals.before_task_publish.connect
def _stamp_sent_at(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The enqueue time: the age of the oldest waiting message and enqueue-to-start wait read it."""
    if headers is not None:
        headers.setdefault("sent_at", time.time())


def _best_effort(action: Any, *args: Any) -> None:
    try:
        action(*args)
    except (redis.RedisError, OSError) as exc:
        logger.debug("metrics: dropped an observation: %s", exc)


def _source_context(task: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    if not task.name.startswith(SOURCE_TASK_PREFIXES):
        return {"chatbot_id": (kwargs or {}).get("chatbot_id")}
    source_id = (kwargs or {}).get("source_id", args[0] if args else None)
    chatbot_id = (kwargs or {}).get("chatbot_id")
    if source_id is not None and chatbot_id is None:
        try:
            Source = apps.get_model("sources", "Source")  # core does not import the sources app
            chatbot_id = Source.objects.filter(pk=source_id).values_list("chatbot_id", flat=True).first()
        except Exception:  # a log field is never worth failing the task
            chatbot_id = None
    return {"source_id": source_id, "chatbot_id": chatbot_id}


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None,
                  **extra: Any) -> None:
    if task is None or task_id is None:
        return
    logs.clear()
    logs.bind(task_id=task_id, task_name=task.name, **_source_context(task, args, kwargs))
    _started[task_id] = time.monotonic()
    logger.info("task %s[%s] started", task.name, task_id)
    telemetry = _telemetry(task.app)
    if telemetry is None or task.request.is_eager:
        return
    _best_effort(telemetry.record_task_event, task.name, "started")
    sent_at = getattr(task.request, "sent_at", None)
    if isinstance(sent_at, int | float) and not task.request.eta and not task.request.retries:
        queue = (task.request.delivery_info or {}).get("routing_key") or "default"
        _best_effort(telemetry.observe, TASK_WAIT_KEY, queue, max(0.0, time.time() - sent_at), WAIT_BUCKETS)


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **extra: Any) -> None:
    started = _started.pop(task_id or "", None)
    if task is not None and started is not None:
        logger.info("task %s[%s] ended %s after %.3f s", task.name, task_id, state, time.monotonic() - started)
    telemetry = _telemetry(task.app) if task is not None else None
    if telemetry is not None and started is not None and not task.request.is_eager:
        outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(state or "")
        if outcome:
            _best_effort(telemetry.record_task_event, task.name, outcome)
        _best_effort(telemetry.observe, TASK_DURATION_KEY, task.name, time.monotonic() - started, DURATION_BUCKETS)
    logs.clear()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _worker_logging(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    if logger is not None:
        logs.install(logger, json_format=settings.LOG_FORMAT == "json")
