"""Throttles count in the shared Redis cache: global across processes, clear() spares others, Redis loss fails open."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache, caches
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from botsmith.cache import PrefixedRedisCache
from tests.conftest import CACHE_KEY_PREFIX

BASE_DIR = Path(__file__).resolve().parents[2]


def test_the_default_cache_is_the_brokers_redis_under_this_runs_prefix(redis_available):
    assert isinstance(caches["default"], PrefixedRedisCache)
    assert settings.CACHES["default"]["LOCATION"] == settings.CELERY_BROKER_URL
    assert caches["default"].key_prefix == CACHE_KEY_PREFIX


def test_another_process_sees_the_same_counters(redis_available):
    key = f"shared-{uuid.uuid4().hex}"
    code = ("import django; django.setup(); from django.core.cache import cache; "
            f"cache.set({key!r}, 41, 60); print(cache.get({key!r}))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "botsmith.settings", "CACHE_KEY_PREFIX": CACHE_KEY_PREFIX,
           "BOTSMITH_SKIP_CELERY_APP": "1"}

    proc = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=60, check=False)

    assert proc.stdout.strip() == "41", proc.stderr[-2000:]
    assert cache.get(key) == 41


def test_clear_deletes_only_this_caches_keys(redis_available):
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    foreign = f"{CACHE_KEY_PREFIX}-other:{uuid.uuid4().hex}"
    client.set(foreign, "queued work", ex=60)
    cache.set("mine", 1)

    cache.clear()

    assert cache.get("mine") is None
    assert client.get(foreign) == b"queued work"
    client.delete(foreign)


@pytest.mark.django_db
def test_throttles_fail_open_when_the_cache_redis_is_down(settings, monkeypatch):
    settings.CACHES = {"default": {"BACKEND": "botsmith.cache.PrefixedRedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0", "KEY_PREFIX": "down",
                                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"health": "1/min"})
    from django.core.cache import cache as down_cache

    codes = [APIClient().get("/api/health/").status_code for _ in range(2)]

    assert down_cache.get("anything", "default") == "default"
    assert 429 not in codes and 500 not in codes
