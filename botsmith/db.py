"""Database connections per process type, and telling a database outage from other errors."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connections

logger = logging.getLogger(__name__)


def label_connections(process_type: str) -> None:
    """Name this process's future connections ``botsmith-<type>`` in pg_stat_activity (PostgreSQL)."""
    for alias in settings.DATABASES:
        wrapper = connections[alias]
        if wrapper.vendor != "postgresql":
            continue
        for target in {id(settings.DATABASES[alias]): settings.DATABASES[alias],
                       id(wrapper.settings_dict): wrapper.settings_dict}.values():
            target.setdefault("OPTIONS", {})["application_name"] = f"botsmith-{process_type}"


def label_worker_main(**_: Any) -> None:
    label_connections("worker-main")
    use_worker_connections()


def label_worker_child(**_: Any) -> None:
    label_connections("worker")


def label_beat(**_: Any) -> None:
    """``beat_init`` comes after the scheduler first read the database: reconnect under the new name."""
    label_connections("beat")
    use_worker_connections()
    for conn in connections.all(initialized_only=True):
        conn.close()


def use_worker_connections(**_: Any) -> None:
    """In a Celery process, before it forks or runs a task: one plain connection, no pool.

    Django's pool lives in the process that opened it. Opened in the worker's main process before
    prefork forks, every child would share its sockets while none of the pool's maintenance
    threads survive the fork; opened per child it adds ``min_size`` idle connections per child
    and, because Celery's Django fixup closes pools around tasks in prefork children, reconnects
    per task anyway. A pool child runs one task at a time, so one connection is its bound.
    """
    for alias in settings.DATABASES:
        config = settings.DATABASES[alias]
        options = config.get("OPTIONS", {})
        if "pool" not in options:
            continue
        wrapper = connections[alias]
        try:
            wrapper.close()
            close_pool = getattr(wrapper, "close_pool", None)
            if close_pool is not None:
                close_pool()
        except DatabaseError:
            logger.warning("could not close the web connection pool of %s", alias, exc_info=True)
        for target in {id(config): config, id(wrapper.settings_dict): wrapper.settings_dict}.values():
            target.setdefault("OPTIONS", {}).pop("pool", None)
            target["CONN_MAX_AGE"] = getattr(settings, "DB_WORKER_CONN_MAX_AGE", 0)


def check_worker_connections(sender: Any = None, **_: Any) -> None:
    """Before each task, as Django does before each request: drop a connection that broke or aged
    out, and health-check a kept one on first use, so a database restart between tasks costs a
    reconnect, not a failed task. Not for eager calls, which run inside the caller's transaction."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    close_old_connections()


def is_database_unavailable(exc: BaseException) -> bool:
    """True for a refused, lost or exhausted connection (including the pool's timeout).

    Django wraps the driver's errors, and psycopg_pool's ``PoolTimeout`` is an
    ``OperationalError``. Other database errors (integrity, data) are bugs or bad input.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OperationalError | InterfaceError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
