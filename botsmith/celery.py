"""The Celery application, configured from Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os

from celery import Celery, signals

from botsmith import broker, instrumentation  # noqa: F401 - broker registers the restart-safe Redis transport
from botsmith.db import check_worker_connections, label_beat, label_worker_child, label_worker_main

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsmith.settings")

app = Celery("botsmith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery's Django fixup closes the connection around every task unless told to reuse it; a
# reused connection is health-checked before each task instead (check_worker_connections).
app.conf.update(CELERY_DB_REUSE_MAX=200)

# Worker (before its pool forks; the embedded -B beat is forked from it) and beat: no connection
# pool, one connection per process (botsmith/db.py says why), named after the process type.
signals.celeryd_init.connect(label_worker_main, weak=False)
signals.worker_process_init.connect(label_worker_child, weak=False)
signals.beat_init.connect(label_beat, weak=False)
signals.task_prerun.connect(check_worker_connections, weak=False)
instrumentation.install(app)


@app.task(name="botsmith.ping", ignore_result=False)
def ping() -> str:
    """A no-op task: proves a worker consumes ``default`` and that results are stored."""
    return "pong"
