"""/api/health/live/ answers without I/O; /api/health/ judges workers from their own heartbeat and
reports (to staff) whether OCR is available."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from celery import Celery
from rest_framework.throttling import ScopedRateThrottle

from botsmith import health
from botsmith.telemetry import WORKERS_KEY, Telemetry
from tests.factories import UserFactory
from tests.worker import isolated_app

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "monitoring-token-for-tests-0123456789"


def _wait_for_health(client, status_code: int, timeout: float = 15.0, **extra):
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/api/health/", **extra)
        if response.status_code == status_code or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


@pytest.fixture
def staff_client(anon_client):
    anon_client.force_authenticate(UserFactory(is_staff=True))
    return anon_client


@pytest.fixture
def lone_app(monkeypatch, redis_available) -> Celery:
    """The test broker under a fresh key prefix: no worker beats there and its queues are empty."""
    app = isolated_app(f"health-{uuid.uuid4().hex}:")
    monkeypatch.setattr(health, "app", app)
    return app


def test_liveness_answers_without_database_or_broker(anon_client, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(health, "app", _app("redis://127.0.0.1:1/0"))
    with django_assert_num_queries(0):
        response = anon_client.get("/api/health/live/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.integration
def test_healthy_with_a_worker_heartbeat_and_anonymous_sees_only_the_status(anon_client, celery_worker):
    response = _wait_for_health(anon_client, 200)

    assert response.status_code == 200, response.data
    assert response.data == {"status": "ok", "down": []}


@pytest.mark.integration
def test_staff_see_workers_queues_and_check_details(staff_client, celery_worker):
    response = _wait_for_health(staff_client, 200)

    assert response.status_code == 200, response.data
    assert response.data["checks"]["worker"]["ok"] is True
    assert response.data["ocr"]["available"] is True  # CI installs Tesseract
    hostname = celery_worker.name.replace("%h", os.uname().nodename)
    worker = next(w for w in response.data["workers"] if w["name"] == hostname)
    assert set(worker["queues"]) == {"default", "documents", "websites", "notifications"}
    assert set(response.data["queues"]) == {"default", "documents", "websites", "notifications", "embeddings"}
    assert response.data["queues"]["documents"]["workers"] >= 1
    assert "beat" in response.data


@pytest.mark.integration
def test_a_cleanly_stopped_worker_removes_its_heartbeat(start_worker):
    from botsmith.celery import app

    worker = start_worker(extra_args=["-Q", "notifications"])
    hostname = worker.name.replace("%h", os.uname().nodename)
    telemetry = Telemetry(app)
    deadline = time.monotonic() + 10
    while telemetry.client.zscore(telemetry.key(WORKERS_KEY), hostname) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert telemetry.client.zscore(telemetry.key(WORKERS_KEY), hostname) is not None

    worker.stop()

    assert telemetry.client.zscore(telemetry.key(WORKERS_KEY), hostname) is None


def test_503_names_the_worker_when_no_heartbeat_is_recent(anon_client, lone_app):
    telemetry = Telemetry(lone_app)
    telemetry.beat_worker("old@host", ["default"], 1, stale_after=3600)
    telemetry.client.zadd(telemetry.key(WORKERS_KEY), {"old@host": time.time() - 3600})

    response = anon_client.get("/api/health/")

    assert response.status_code == 503
    assert response.data == {"status": "unavailable", "down": ["worker"]}


def test_token_holders_see_queue_depth_and_the_oldest_message_age(anon_client, lone_app, settings):
    settings.MONITORING_TOKEN = TOKEN
    lone_app.send_task("botsmith.ping", queue="documents")
    lone_app.send_task("botsmith.ping", queue="documents")
    Telemetry(lone_app).record_beat_tick()
    time.sleep(0.05)

    response = anon_client.get("/api/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong = anon_client.get("/api/health/", HTTP_AUTHORIZATION="Bearer not-the-token")

    assert response.status_code == 503
    assert response.data["checks"]["worker"] == {"ok": False, "detail": "no worker heartbeat"}
    assert response.data["queues"]["documents"]["depth"] == 2
    assert response.data["queues"]["documents"]["oldest_message_age_seconds"] > 0
    assert response.data["queues"]["default"] == {"depth": 0, "oldest_message_age_seconds": 0, "workers": 0}
    assert response.data["beat"]["last_tick_seconds_ago"] >= 0
    assert "checks" not in wrong.data and "queues" not in wrong.data


def _app(broker_url: str) -> Celery:
    app = Celery("health-probe", broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": f"probe-{uuid.uuid4().hex}:"}
    app.conf.broker_connection_retry_on_startup = False
    return app


def test_503_names_the_broker_when_redis_is_unreachable(staff_client, monkeypatch):
    monkeypatch.setattr(health, "app", _app("redis://127.0.0.1:1/0"))

    response = staff_client.get("/api/health/")

    assert response.status_code == 503
    assert response.data["down"] == ["broker", "worker"]
    assert response.data["checks"]["database"]["ok"] is True
    assert "queues" not in response.data


def test_readiness_is_throttled(anon_client, lone_app, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"health": "2/min"})

    codes = [anon_client.get("/api/health/").status_code for _ in range(3)]

    assert codes == [503, 503, 429]


def test_missing_ocr_is_reported_but_does_not_make_the_service_down(staff_client, monkeypatch, settings):
    settings.OCR_COMMAND = "/nonexistent/tesseract"
    monkeypatch.setattr(
        health, "check_broker_and_workers", lambda: (health.Check(True, "stub"), health.Check(True, "stub"))
    )
    monkeypatch.setattr(health, "details", lambda: {})

    response = staff_client.get("/api/health/")

    assert response.status_code == 200
    assert response.data["ocr"] == {
        "available": False, "detail": "Tesseract not installed: apt-get install tesseract-ocr tesseract-ocr-eng",
    }


def test_missing_ocr_language_is_named(settings):
    settings.OCR_LANGUAGES = "eng+zzz"
    check = health.check_ocr()
    assert not check.ok and "zzz" in check.detail
