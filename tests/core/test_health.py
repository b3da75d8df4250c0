"""/api/health/ reports database, broker and worker reachability, and whether OCR is available."""

from __future__ import annotations

import uuid

import pytest
from celery import Celery

from botsmith import health

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.integration
def test_healthy_with_database_broker_and_worker(anon_client, celery_worker):
    response = anon_client.get("/api/health/")

    assert response.status_code == 200, response.data
    assert response.data["down"] == []
    assert response.data["checks"]["worker"]["ok"] is True
    assert response.data["ocr"]["available"] is True  # CI installs Tesseract


def _app(broker_url: str) -> Celery:
    app = Celery("health-probe", broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": f"probe-{uuid.uuid4().hex}:"}
    app.conf.broker_connection_retry_on_startup = False
    return app


def test_503_names_the_worker_when_no_worker_listens(anon_client, monkeypatch, redis_available):
    from django.conf import settings

    monkeypatch.setattr(health, "app", _app(settings.CELERY_BROKER_URL))

    response = anon_client.get("/api/health/")

    assert response.status_code == 503
    assert response.data["down"] == ["worker"]


def test_503_names_the_broker_when_redis_is_unreachable(anon_client, monkeypatch):
    monkeypatch.setattr(health, "app", _app("redis://127.0.0.1:1/0"))

    response = anon_client.get("/api/health/")

    assert response.status_code == 503
    assert response.data["down"] == ["broker", "worker"]
    assert response.data["checks"]["database"]["ok"] is True


def test_missing_ocr_is_reported_but_does_not_make_the_service_down(anon_client, monkeypatch, settings):
    settings.OCR_COMMAND = "/nonexistent/tesseract"
    monkeypatch.setattr(health, "check_broker", lambda: health.Check(True, "stub"))
    monkeypatch.setattr(health, "check_workers", lambda: health.Check(True, "stub"))

    response = anon_client.get("/api/health/")

    assert response.status_code == 200
    assert response.data["ocr"] == {
        "available": False, "detail": "Tesseract not installed: apt-get install tesseract-ocr tesseract-ocr-eng",
    }


def test_missing_ocr_language_is_named(settings):
    settings.OCR_LANGUAGES = "eng+zzz"
    check = health.check_ocr()
    assert not check.ok and "zzz" in check.detail
