"""BotSmith: the Django project package and its core app (chatbots, conversations, messages)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
__version__ = "0.1.0"
