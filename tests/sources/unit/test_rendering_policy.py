"""SCRAPER_ALLOWED_NETWORKS: named networks pass the address check, nothing else private does."""

from __future__ import annotations

import ipaddress

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.services.rendering import address_policy, make_renderer


def test_allowed_networks_extend_the_public_policy_narrowly(settings):
    settings.SCRAPER_ALLOWED_NETWORKS = ["127.0.0.2/32", "not-a-network", "fd00:1::/64"]
    policy = address_policy()

    assert policy is not None
    assert policy(ipaddress.ip_address("127.0.0.2")) and policy(ipaddress.ip_address("fd00:1::5"))
    assert policy(ipaddress.ip_address("93.184.216.34"))
    for refused in ("127.0.0.1", "169.254.169.254", "10.0.0.1", "fd00:2::1", "::1"):
        assert not policy(ipaddress.ip_address(refused)), refused


def test_no_allowed_networks_means_the_default_policy(settings):
    settings.SCRAPER_ALLOWED_NETWORKS = []
    assert address_policy() is None


def test_missing_chromium_always_raises_and_auto_returns_a_notice(settings):
    settings.SCRAPER_CHROMIUM_PATH = "/nonexistent/chromium"
    with pytest.raises(ProcessingError) as caught:
        make_renderer("always")
    renderer, notice = make_renderer("auto")

    assert caught.value.code == ErrorCode.RENDERER_UNAVAILABLE and "apt-get install chromium" in caught.value.message
    assert renderer is None and notice is not None and "read as plain HTML" in notice
    assert make_renderer("never") == (None, None)
