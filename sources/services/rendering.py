"""The crawl's network policy and browser, built from settings: allowed networks, the renderer for ``render``."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings

from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Source
from sources.scraping import DEFAULT_USER_AGENT
from sources.scraping.chromium import INSTALL_HINT, find_chromium
from sources.scraping.render import RenderConfig, Renderer
from sources.scraping.urlsafety import AddressPolicy, IPAddress, is_public_address

logger = logging.getLogger(__name__)
RENDER_USER_AGENT = DEFAULT_USER_AGENT.replace("(+", "(rendering; +")


def address_policy() -> AddressPolicy | None:
    """Public addresses, plus the networks an operator allowed by name (SCRAPER_ALLOWED_NETWORKS)."""
    allowed = []
    for net in settings.SCRAPER_ALLOWED_NETWORKS:
        try:
            allowed.append(ipaddress.ip_network(net.strip(), strict=False))
        except ValueError:
            logger.error("SCRAPER_ALLOWED_NETWORKS: %r is not a network (CIDR); ignored", net)
    if not allowed:
        return None

    def policy(ip: IPAddress) -> bool:
        return is_public_address(ip) or any(ip.version == net.version and ip in net for net in allowed)

    return policy


def make_renderer(mode: str, should_stop: Callable[[], bool] | None = None) -> tuple[Renderer | None, str | None]:
    """The crawl's renderer, or None plus the notice why not; ``always`` without Chromium fails the run."""
    if mode == Source.Render.NEVER:
        return None, None
    chromium = find_chromium(settings.SCRAPER_CHROMIUM_PATH)
    if chromium is None:
        message = f"Pages could not be rendered: Chromium is not installed on the worker; {INSTALL_HINT}."
        if mode == Source.Render.ALWAYS:
            raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE, message)
        return None, message + " The pages were read as plain HTML."
    config = RenderConfig(
        chromium=chromium, page_timeout=settings.SCRAPER_RENDER_PAGE_TIMEOUT_SECONDS,
        settle_ms=settings.SCRAPER_RENDER_SETTLE_MS, max_pages=settings.SCRAPER_RENDER_MAX_PAGES,
        concurrency=settings.SCRAPER_RENDER_CONCURRENCY, max_memory_bytes=settings.SCRAPER_RENDER_MAX_MEMORY_MB << 20,
        max_bytes=settings.SCRAPER_MAX_BYTES, user_agent=RENDER_USER_AGENT,
        allow_private=settings.SCRAPER_ALLOW_PRIVATE_NETWORKS, is_public=address_policy(),
        slot_dir=settings.SCRAPER_RENDER_SLOT_DIR,
    )
    return Renderer(config, should_stop=should_stop), None
