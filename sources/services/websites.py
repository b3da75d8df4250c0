"""Website sources (filled in with the website issue)."""

from __future__ import annotations

from typing import Any

from botsmith.errors import ErrorCode, ProcessingError


def crawl_website(source_id: Any, **kwargs: Any) -> dict[str, Any]:
    raise ProcessingError(ErrorCode.UNSUPPORTED_TYPE, "Website sources are not available yet.")
