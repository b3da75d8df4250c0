"""Django's RedisCache made safe to share a Redis database with the broker, and to lose it for a while.

``clear()`` deletes only this cache's keys (the stock one runs FLUSHDB, which would drop every queued
task), and reads and writes fail open: with Redis unreachable, a throttle lets the request through
instead of turning it into a 500 (limits are a defence, not a reason to refuse service).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

CLEAR_BATCH = 500
WARN_EVERY_SECONDS = 30.0


class PrefixedRedisCache(RedisCache):
    _last_warning = 0.0

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        if not self.key_prefix:
            raise ValueError("PrefixedRedisCache needs a KEY_PREFIX (clear() deletes only keys under it)")

    def _unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - PrefixedRedisCache._last_warning > WARN_EVERY_SECONDS:
            PrefixedRedisCache._last_warning = now
            logger.warning("cache: Redis unreachable, failing open: %s", exc)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return default

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            self._unavailable(exc)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return False

    def clear(self) -> None:
        client = self._cache.get_client(write=True)
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{self.key_prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= CLEAR_BATCH:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
