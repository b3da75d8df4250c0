"""Settings and Celery configuration match what production needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from botsmith.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]


def _django_setup(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(env_overrides)
    env["BOTSMITH_ENV_FILE"] = "/nonexistent"  # ignore a developer's .env
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "botsmith.settings"},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    proc = _django_setup({"DEBUG": "false"})
    assert proc.returncode != 0
    assert "SECRET_KEY is missing" in proc.stderr


def test_starts_with_a_real_secret_key_or_in_debug():
    assert _django_setup({"DEBUG": "false", "SECRET_KEY": "x" * 50}).stdout.strip() == "started"
    assert _django_setup({"DEBUG": "true"}).stdout.strip() == "started"


def test_celery_settings_as_the_original_setup():
    conf = celery_app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.timezone == "UTC"
    assert (conf.task_time_limit, conf.task_soft_time_limit) == (1800, 1500)
    assert conf.worker_prefetch_multiplier == 4
    assert conf.worker_max_tasks_per_child == 1000
    assert conf.task_track_started is True
    # django-celery-results' database backend, retrying database hiccups (botsmith/results.py).
    assert conf.result_backend == "botsmith.results:RetryingDatabaseBackend" and conf.result_extended is True
    assert conf.result_backend_always_retry is True
    assert conf.beat_scheduler == "botsmith.beat:LockingDatabaseScheduler"
    assert conf.broker_connection_retry_on_startup is True
    # Redelivery must not happen while a healthy task is still within its hard limit.
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-specific settings; this run uses " + connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
