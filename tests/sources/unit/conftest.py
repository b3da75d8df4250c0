"""Shared helpers for the pure extraction/chunking unit tests (no database)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from sources.extractors import get_extractor
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment

Run = Callable[..., tuple[list[Segment], ExtractionStats]]


@pytest.fixture
def run_extractor() -> Run:
    """``run_extractor(kind, data, filename=None, **limits) -> (segments, stats)``."""

    def run(kind: str, data: bytes, filename: str | None = None, progress=None, **limits):
        stats = ExtractionStats()
        extractor = get_extractor(kind, filename=filename)
        segments = list(
            extractor.extract(io.BytesIO(data), limits=ExtractionLimits(**limits), stats=stats, progress=progress)
        )
        return segments, stats

    return run
