"""Result backend: django-celery-results, retrying database hiccups, requeueing when they last.

Celery stores a task's state outside its body (STARTED before it, the result or failure after
it). Stock, a database error there is an "internal error": the late-acknowledged message is
acknowledged and the task is gone while its source stays ``pending``. Here such an error is
retried with backoff (``CELERY_RESULT_BACKEND_MAX_RETRIES``); if the database is still away,
``Reject(requeue=True)`` makes the worker give the message back to the broker, which delivers it
again. Tasks are idempotent (a redelivered finished source is skipped), so running again is safe.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_task
from celery.exceptions import BackendStoreError, Reject
from django.db import connections
from django_celery_results.backends.database import DatabaseBackend

from botsmith.db import is_database_unavailable

logger = logging.getLogger(__name__)


class RetryingDatabaseBackend(DatabaseBackend):
    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        if not is_database_unavailable(exc):
            return bool(super().exception_safe_to_retry(exc))
        # The broken connection must go, or every retry would reuse it.
        for conn in connections.all(initialized_only=True):
            try:
                conn.close()
            except Exception:  # already broken; closing is best effort
                logger.debug("closing a broken connection failed", exc_info=True)
        return True

    def store_result(self, task_id: str, result: Any, state: str, traceback: Any = None,
                     request: Any = None, **kwargs: Any) -> Any:
        try:
            return super().store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        except Exception as exc:
            if not (isinstance(exc, BackendStoreError) or is_database_unavailable(exc)) or not _in_worker_task():
                raise
            logger.error("task %s: could not store state %s (%s); requeueing its message", task_id, state, exc)
            raise Reject(f"result store unavailable: {exc}", requeue=True) from exc


def _in_worker_task() -> bool:
    """Inside a worker's task trace (a pool child), where Reject hands the message back.

    Elsewhere (the worker's main process, an eager call, a web process) there is no message to
    give back, so the error is raised as it is.
    """
    if not current_task:  # a proxy: false when no task is being traced in this thread
        return False
    return not getattr(current_task.request, "is_eager", False)
