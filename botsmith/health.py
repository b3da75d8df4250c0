"""Readiness checks of the database, the broker and the workers for /api/health/, all with short timeouts.

Workers are judged from the heartbeat they publish themselves (``botsmith.instrumentation``): one
ZCOUNT on the broker's Redis, so a probe costs two round trips whether workers are up or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from sources.extractors.ocr import installed_languages

from .celery import app
from .telemetry import Telemetry, is_redis_url

logger = logging.getLogger(__name__)

# Only for the embedded file-system broker of `make run` (no Redis to hold heartbeats).
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
    if not is_redis_url(app.conf.broker_url):
        return _check_without_redis()
    try:
        live = Telemetry(app).count_live_workers(settings.WORKER_HEARTBEAT_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("health: broker unreachable: %s", exc)
        return Check(False, f"unreachable: {type(exc).__name__}"), Check(False, "broker unreachable")
    broker = Check(True, "redis")
    if not live:
        return broker, Check(False, "no worker heartbeat")
    return broker, Check(True, f"{live} worker(s)")


def _check_without_redis() -> tuple[Check, Check]:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1.0)
    except Exception as exc:
        return Check(False, f"unreachable: {type(exc).__name__}"), Check(False, "broker unreachable")
    try:
        replies = app.control.ping(timeout=FALLBACK_PING_TIMEOUT) or []
    except Exception as exc:
        return Check(True, "filesystem"), Check(False, f"ping failed: {type(exc).__name__}")
    names = sorted(name for reply in replies for name in reply)
    return Check(True, "filesystem"), Check(bool(names), f"{len(names)} worker(s)" if names else "no worker answered")


def queue_names() -> list[str]:
    return [queue.name for queue in app.conf.task_queues or []] or [app.conf.task_default_queue]


def details() -> dict[str, Any]:
    """Queue depths and ages, workers and their queues, beat's last tick: for staff and token holders."""
    if not is_redis_url(app.conf.broker_url):
        return {}
    try:
        snap = Telemetry(app).snapshot(queue_names())
    except redis.RedisError as exc:
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
