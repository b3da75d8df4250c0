"""/metrics: Prometheus text with queues, workers, task counters and timings, sources and chunks; access-controlled."""

from __future__ import annotations

import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from botsmith import health, metrics
from botsmith.celery import app as celery_app
from botsmith.telemetry import Telemetry
from sources.models import Source
from tests.factories import ChatbotFactory, UserFactory
from tests.sources.helpers_sources import upload, wait_for_source
from tests.worker import isolated_app

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "monitoring-token-for-tests-0123456789"


def samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(autouse=True)
def _scraper_network(settings):
    """The test client's address (127.0.0.1) may scrape, as a Prometheus on an allowed network would."""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def lone_app(monkeypatch, redis_available):
    app = isolated_app(f"metrics-{uuid.uuid4().hex}:")
    monkeypatch.setattr(metrics, "app", app)
    monkeypatch.setattr(health, "app", app)
    return app


def test_queue_depth_oldest_age_and_beat_ticks(anon_client, lone_app):
    lone_app.send_task("botsmith.ping", queue="websites")
    Telemetry(lone_app).record_beat_tick()
    Telemetry(lone_app).record_beat_tick()
    time.sleep(0.05)

    found = samples(anon_client.get("/metrics"))

    assert value(found, "botsmith_broker_up") == 1
    assert value(found, "botsmith_queue_depth", queue="websites") == 1
    assert value(found, "botsmith_queue_depth", queue="embeddings") == 0
    assert value(found, "botsmith_queue_oldest_message_age_seconds", queue="websites") > 0
    assert value(found, "botsmith_workers_up") == 0
    assert value(found, "botsmith_beat_ticks_total") == 2
    assert value(found, "botsmith_beat_last_tick_timestamp_seconds") > 0


def test_sources_by_status_and_chunks_from_the_database(anon_client, lone_app):
    bot = ChatbotFactory()
    Source.objects.create(chatbot=bot, kind=Source.Kind.FILE, name="a.txt", status=Source.Status.COMPLETED,
                          chunk_count=7)
    Source.objects.create(chatbot=bot, kind=Source.Kind.WEBSITE, name="site", status=Source.Status.FAILED,
                          error_code="fetch_failed")

    found = samples(anon_client.get("/metrics"))

    assert value(found, "botsmith_database_up") == 1
    assert value(found, "botsmith_sources", status="completed", kind="file") == 1
    assert value(found, "botsmith_sources", status="failed", kind="website") == 1
    assert value(found, "botsmith_sources_failed", error_code="fetch_failed") == 1
    assert value(found, "botsmith_chunks_stored") == 7


def test_metrics_are_refused_outside_allowed_networks_without_token_or_staff(anon_client, lone_app, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.MONITORING_TOKEN = TOKEN

    refused = anon_client.get("/metrics")
    wrong = anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    with_token = anon_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    anon_client.force_authenticate(UserFactory(is_staff=True))
    staff = anon_client.get("/metrics")

    assert refused.status_code in (401, 403)
    assert wrong.status_code in (401, 403)
    assert b"botsmith_queue_depth" not in refused.content
    assert with_token.status_code == 200 and b"botsmith_queue_depth" in with_token.content
    assert staff.status_code == 200


def test_an_unreachable_broker_is_a_gauge_not_an_error(anon_client, monkeypatch):
    monkeypatch.setattr(metrics, "app", isolated_app("x:"))
    metrics.app.conf.broker_url = "redis://127.0.0.1:1/0"

    found = samples(anon_client.get("/metrics"))

    assert value(found, "botsmith_broker_up") == 0
    assert value(found, "botsmith_database_up") == 1


def _wait_for(anon_client, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = samples(anon_client.get("/metrics"))
        if check(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.integration
def test_task_counters_durations_and_wait_from_a_real_worker(anon_client, api_client, chatbot, celery_worker):
    task = "sources.tasks.process_document"
    before = samples(anon_client.get("/metrics"))

    response = upload(api_client, chatbot.pk, ("notes.txt", b"Some words worth keeping. " * 40))
    source = wait_for_source(response.data["sources"][0]["source_id"])
    bad = celery_app.send_task("botsmith.ping", args=[1])  # TypeError in the task: a failed run

    def done(found):
        return (value(found, "botsmith_task_events_total", task=task, event="succeeded")
                > value(before, "botsmith_task_events_total", task=task, event="succeeded")
                and value(found, "botsmith_task_events_total", task="botsmith.ping", event="failed")
                > value(before, "botsmith_task_events_total", task="botsmith.ping", event="failed"))

    found = _wait_for(anon_client, done)
    with pytest.raises(TypeError):
        bad.get(timeout=10)

    assert source.status == Source.Status.COMPLETED
    assert done(found), found
    for event in ("started", "succeeded"):
        assert (value(found, "botsmith_task_events_total", task=task, event=event)
                == value(before, "botsmith_task_events_total", task=task, event=event) + 1)
    assert (value(found, "botsmith_task_duration_seconds_count", task=task)
            == value(before, "botsmith_task_duration_seconds_count", task=task) + 1)
    assert (value(found, "botsmith_task_duration_seconds_bucket", task=task, le="+Inf")
            == value(found, "botsmith_task_duration_seconds_count", task=task))
    assert (value(found, "botsmith_task_wait_seconds_count", queue="documents")
            > value(before, "botsmith_task_wait_seconds_count", queue="documents"))
    assert value(found, "botsmith_workers_up") >= 1
    assert value(found, "botsmith_chunks_stored") >= 1
