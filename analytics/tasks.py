"""Celery tasks of the analytics app."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="analytics.tasks.cleanup_old_data")
def cleanup_old_data(days: int = 90, dry_run: bool = False) -> dict[str, int]:
    """Retention cleanup (its body lands with the retention issue)."""
    logger.info("cleanup_old_data(days=%s, dry_run=%s): nothing to do yet", days, dry_run)
    return {"conversations": 0, "messages": 0, "notifications": 0, "task_results": 0, "files": 0}
