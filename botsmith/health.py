"""Reachability checks of the database, the broker and the workers, for /api/health/."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from sources.extractors.ocr import installed_languages

from .celery import app

logger = logging.getLogger(__name__)


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


def check_broker(timeout: float = 2.0) -> Check:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            transport = conn.transport_cls
    except Exception as exc:
        logger.warning("health: broker unreachable: %s", exc)
        return Check(False, f"unreachable: {type(exc).__name__}")
    return Check(True, str(transport))


def check_workers(timeout: float = 1.5) -> Check:
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        logger.warning("health: worker ping failed: %s", exc)
        return Check(False, f"ping failed: {type(exc).__name__}")
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return Check(False, "no worker answered")
    return Check(True, f"{len(names)} worker(s): {', '.join(names)}")


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
