"""API error shape: DRF's handler, plus ProcessingError answered as 400 with its code and an
unreachable database answered as 503 with ``Retry-After`` (a client should retry, not report a bug)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .db import is_database_unavailable
from .errors import ProcessingError

logger = logging.getLogger(__name__)


def database_unavailable_response() -> Response:
    return Response(
        {"error_code": "database_unavailable",
         "detail": "The service is busy or briefly unavailable; nothing was saved. Please try again shortly."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(settings.DB_UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProcessingError):
        return Response({"error_code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
    if is_database_unavailable(exc):
        view = context.get("view")
        logger.warning("database unavailable in %s: %s", type(view).__name__ if view else "API", exc)
        return database_unavailable_response()
    return drf_exception_handler(exc, context)
