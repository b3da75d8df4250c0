"""BotSmith: the Django project package and its core app (chatbots, conversations, messages)."""

import os

__version__ = "0.1.0"

# The sandboxed extraction process (sources.extraction_child) needs only botsmith.errors; loading
# the Celery app there would double its start-up time, paid once per document.
if os.environ.get("BOTSMITH_SKIP_CELERY_APP") != "1":
    from .celery import app as celery_app

    __all__ = ("celery_app",)
