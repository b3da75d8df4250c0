"""Readiness checks of the database, the broker and the workers for /api/health/, all with short timeouts.

Workers are judged from the heartbeat they publish themselves (``botsmith.instrumentation``): one
ZCOUNT on the broker's Redis, so a probe costs two round trips whether workers are up or not. With
RabbitMQ as the broker the heartbeats live in ``REDIS_URL`` and the broker check is a connection to
RabbitMQ; with no Redis at all (embedded broker, or ``REDIS_URL`` empty) workers answer a ping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from sources.extractors.ocr import installed_languages

from . import rabbitmq
from .celery import app
from .telemetry import Snapshot, Telemetry, is_redis_url

logger = logging.getLogger(__name__)

# Only without a Redis to hold heartbeats (the embedded broker of `make run`, or REDIS_URL empty).
FALLBACK_PING_TIMEOUT = 0.5


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("health: database unreachable: %s", exc)
        return Check(False, f"unreachable: {type(exc).__name__}")
    return Check(True, connection.vendor)


def check_broker_and_workers() -> tuple[Check, Check]:
    """The broker answers, and at least one worker beat within ``WORKER_HEARTBEAT_TTL_SECONDS``."""
    telemetry = Telemetry.for_app(app)
    if telemetry is None:
        return _check_without_redis()
    broker_is_redis = is_redis_url(app.conf.broker_url)
    if not broker_is_redis:
        broker = _broker_check()
        if not broker.ok:
            return broker, Check(False, "broker unreachable")
    try:
        live = telemetry.count_live_workers(settings.WORKER_HEARTBEAT_TTL_SECONDS)
    except redis.RedisError as exc:
        if broker_is_redis:
            logger.warning("health: broker unreachable: %s", exc)
            return Check(False, f"unreachable: {type(exc).__name__}"), Check(False, "broker unreachable")
        # RabbitMQ answers but the heartbeats' Redis does not: the workers cannot be judged.
        logger.warning("health: Redis (REDIS_URL) unreachable: %s", exc)
        return broker, Check(False, f"heartbeats unreadable (REDIS_URL): {type(exc).__name__}")
    if broker_is_redis:
        broker = Check(True, "redis")
    if not live:
        return broker, Check(False, "no worker heartbeat")
    return broker, Check(True, f"{live} worker(s)")


def _broker_name() -> str:
    return "rabbitmq" if rabbitmq.is_amqp_url(app.conf.broker_url) else str(app.conf.broker_url).split(":", 1)[0]


def _broker_check() -> Check:
    try:
        rabbitmq.broker_answers(app)
    except Exception as exc:
        logger.warning("health: broker unreachable: %s", exc)
        return Check(False, f"unreachable: {type(exc).__name__}")
    return Check(True, _broker_name())


def _check_without_redis() -> tuple[Check, Check]:
    broker = _broker_check()
    if not broker.ok:
        return broker, Check(False, "broker unreachable")
    try:
        replies = app.control.ping(timeout=FALLBACK_PING_TIMEOUT) or []
    except Exception as exc:
        return broker, Check(False, f"ping failed: {type(exc).__name__}")
    names = sorted(name for reply in replies for name in reply)
    return broker, Check(bool(names), f"{len(names)} worker(s)" if names else "no worker answered")


def queue_names() -> list[str]:
    return [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]


def details() -> dict[str, Any]:
    """Queue depths and ages, workers and their queues, beat's last tick: for staff and token holders."""
    telemetry = Telemetry.for_app(app)
    if telemetry is None:
        return {}
    try:
        snap = snapshot(telemetry)
    except redis.RedisError as exc:
        return {"error": f"broker unreachable: {type(exc).__name__}"}
    except OSError as exc:  # RabbitMQ's queue depths (amqp and socket errors are OSErrors)
        return {"error": f"broker unreachable: {type(exc).__name__}"}
    live = snap.live_workers(settings.WORKER_HEARTBEAT_TTL_SECONDS)
    return {
        "workers": [
            {"name": w.name, "queues": w.queues, "last_beat_seconds_ago": round(snap.now - w.last_beat, 3)}
            for w in live
        ],
        "queues": {
            name: {
                "depth": state.depth,
                "oldest_message_age_seconds": round(snap.oldest_age(name), 3),
                "workers": sum(1 for w in live if name in w.queues),
            }
            for name, state in snap.queues.items()
        },
        "beat": {
            "last_tick_seconds_ago": round(snap.now - snap.beat_last_tick, 3) if snap.beat_last_tick else None,
        },
    }


def snapshot(telemetry: Telemetry, *, with_metrics: bool = False) -> Snapshot:
    """Workers, beat and counters from Redis; queue depths from whichever holds the queues."""
    snap = telemetry.snapshot(queue_names(), with_metrics=with_metrics)
    if not telemetry.reads_queues and rabbitmq.is_amqp_url(app.conf.broker_url):
        snap.queues = rabbitmq.queue_states(app, queue_names())
    return snap


def check_ocr() -> Check:
    """Whether this machine can OCR scans (informational: the service works without it)."""
    langs = installed_languages(settings.OCR_COMMAND)
    if langs is None:
        return Check(False, "Tesseract not installed: apt-get install tesseract-ocr tesseract-ocr-eng")
    wanted = [lang for lang in settings.OCR_LANGUAGES.split("+") if lang]
    missing = [lang for lang in wanted if lang not in langs]
    if missing:
        return Check(False, f"missing OCR languages: {', '.join(missing)} (installed: {', '.join(langs)})")
    return Check(True, f"tesseract, languages: {'+'.join(wanted)}")
