"""Celery tasks of the sources app: thin wrappers that call one service and record its outcome."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db import close_old_connections

from botsmith.errors import ErrorCode
from sources.services import lifecycle
from sources.services.ingestion import TIMEOUT_MESSAGE, ingest_document
from sources.services.reaper import reap_stuck_sources as reap_stuck_sources_service
from sources.services.websites import crawl_website
from sources.services.websites import refresh_website as refresh_website_service

logger = logging.getLogger(__name__)

# Only these are worth retrying: a locked, refused or lost database connection (InterfaceError:
# a connection the server closed under us) or a storage hiccup.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DatabaseOperationalError, DatabaseInterfaceError, OSError)
MAX_RETRIES = 3


class SourceTask(Task):
    """Records a time limit on the source when the run itself could not.

    At the hard limit the pool child is killed; at the soft limit the exception may land inside a
    database call and leave the connection unusable, so the run's own handler fails too. Either
    way the source must not stay ``processing``: reconnect and record ``timeout``.
    """

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if lifecycle.caused_by(exc, (TimeLimitExceeded, SoftTimeLimitExceeded)):
            source_id = (kwargs or {}).get("source_id", args[0] if args else None)
            logger.error("source %s: time limit exceeded in task %s", source_id, task_id)
            lifecycle.reset_connection()
            try:
                lifecycle.fail_source_id(source_id, ErrorCode.TIMEOUT, TIMEOUT_MESSAGE)
            except Exception:
                logger.exception("source %s: could not record the time-out", source_id)
        super().on_failure(exc, task_id, args, kwargs, einfo)


def _retry_countdown(retries: int) -> int:
    return min(5 * 2**retries, 60)


def _run_pipeline(task: Any, service: Any, source_id: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return service(source_id, task_id=task.request.id, timeout_errors=(SoftTimeLimitExceeded,), **kwargs)
    except TRANSIENT_ERRORS as exc:
        close_old_connections()
        if task.request.retries >= MAX_RETRIES:
            logger.exception("source %s: giving up after %s retries", source_id, MAX_RETRIES)
            lifecycle.fail_source_id(
                source_id, ErrorCode.INTERNAL, "A temporary problem kept this source from processing; try again later."
            )
            raise
        logger.warning("source %s: transient error, retrying: %s", source_id, exc)
        raise task.retry(exc=exc, countdown=_retry_countdown(task.request.retries)) from exc


@shared_task(
    bind=True, base=SourceTask, name="sources.tasks.process_document", acks_late=True, reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def process_document(self: Any, source_id: Any = None, file_path: str | None = None, chatbot_id: Any = None) -> dict:
    """Extract, chunk and store one uploaded file.

    ``file_path`` is accepted for the original call signature and ignored: the file is always
    read from the source's own stored file, never from a path a caller chose.
    """
    if file_path:
        logger.info("process_document: ignoring file_path for source %s; using its stored file", source_id)
    return _run_pipeline(self, ingest_document, source_id, chatbot_id=chatbot_id)


@shared_task(
    bind=True, base=SourceTask, name="sources.tasks.scrape_website", acks_late=True, reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def scrape_website(self: Any, source_id: Any = None, url: str | None = None, chatbot_id: Any = None) -> dict:
    """Fetch (and optionally crawl) a website source. ``url`` must match the source's own URL if given."""
    return _run_pipeline(self, crawl_website, source_id, url=url, chatbot_id=chatbot_id)


@shared_task(name="sources.tasks.reap_stuck_sources")
def reap_stuck_sources() -> dict[str, int]:
    """Periodic (``sources-reap-stuck``): requeue or fail sources whose worker died."""
    return reap_stuck_sources_service()


@shared_task(name="sources.tasks.refresh_website")
def refresh_website(source_id: int) -> dict[str, Any]:
    """Periodic, one per website source with a ``refresh`` schedule: queue a re-crawl."""
    return refresh_website_service(source_id)
