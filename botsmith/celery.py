"""The Celery application, configured from Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os

from celery import Celery

from botsmith import broker  # noqa: F401 - registers the restart-safe Redis transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsmith.settings")

app = Celery("botsmith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="botsmith.ping", ignore_result=False)
def ping() -> str:
    """A no-op task: proves a worker consumes ``default`` and that results are stored."""
    return "pong"
