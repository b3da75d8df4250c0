"""Log context of the running task (task, source and chatbot ids) and the ``LOG_FORMAT=json`` formatter."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

CONTEXT_FIELDS = ("task_id", "task_name", "source_id", "chatbot_id")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("botsmith_log_context", default=None)


def bind(**values: Any) -> None:
    """Attach ``values`` to every log record of this thread/task until ``clear()``."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in values.items() if v is not None}})


def clear() -> None:
    _context.set(None)


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the task context onto each record, so any formatter can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the task context and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        context = _context.get() or {}
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value is not None:
                payload[name] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def install(logger: logging.Logger, *, json_format: bool) -> None:
    """Give ``logger``'s handlers the context filter (and the JSON formatter when asked).

    Celery's worker replaces the root logger's handlers with its own; this runs after it does.
    """
    for handler in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if json_format:
            handler.setFormatter(JsonFormatter())
