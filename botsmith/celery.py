"""The Celery application, configured from Django settings under the ``CELERY_`` namespace."""

from __future__ import annotations

import os

from celery import Celery

# broker registers the restart-safe Redis transport on import.
from botsmith import broker, instrumentation  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsmith.settings")

app = Celery("botsmith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
instrumentation.install(app)


@app.task(name="botsmith.ping", ignore_result=False)
def ping() -> str:
    """A no-op task: proves a worker consumes ``default`` and that results are stored."""
    return "pong"
