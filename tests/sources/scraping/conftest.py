"""Fixtures for the scraping tests: the real local test site and fetchers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sources.scraping import DEFAULT_USER_AGENT, SafeFetcher
from tests.fixtures.http_server import TestSite, serve_test_site


@pytest.fixture
def site() -> Iterator[TestSite]:
    with serve_test_site() as running:
        yield running


@pytest.fixture
def fetcher() -> Iterator[SafeFetcher]:
    """Fetcher for the loopback test site; short timeouts keep hostile tests fast."""
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, connect_timeout=2, read_timeout=5, total_timeout=10) as f:
        yield f
