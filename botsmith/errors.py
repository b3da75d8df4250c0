"""Error codes shared by every pipeline, and the exception that carries them."""

from __future__ import annotations

from django.db import models


class ErrorCode(models.TextChoices):
    UNSUPPORTED_TYPE = "unsupported_type", "Unsupported file type"
    TOO_LARGE = "too_large", "Too large"
    CORRUPT = "corrupt", "Corrupt or unreadable"
    ENCRYPTED = "encrypted", "Encrypted"
    NO_TEXT = "no_text", "No text found"
    OCR_UNAVAILABLE = "ocr_unavailable", "OCR not installed"
    EMPTY = "empty", "Empty"
    TIMEOUT = "timeout", "Timed out"
    CRASHED = "crashed", "Processing crashed"
    LIMIT_EXCEEDED = "limit_exceeded", "Quota exceeded"
    BLOCKED_URL = "blocked_url", "URL not allowed"
    FETCH_FAILED = "fetch_failed", "Could not fetch"
    INVALID_ARGUMENT = "invalid_argument", "Invalid argument"
    INTERNAL = "internal", "Internal error"
    RENDERER_UNAVAILABLE = "renderer_unavailable", "Browser for rendering not installed"


class ProcessingError(Exception):
    """A permanent failure with a code for machines and a message for the chatbot owner.

    Services raise it; tasks record ``code`` and ``message`` on the row and never retry it.
    """

    def __init__(self, code: str, message: str) -> None:
        # Both in args, so Celery's JSON result backend can rebuild the exception on .get().
        super().__init__(str(code), message)
        self.code = str(code)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ProcessingError({self.code!r}, {self.message!r})"
