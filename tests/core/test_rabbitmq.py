"""RabbitMQ as the broker: settings, readiness and queue depths, quorum queues, and what degrades."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery import Celery
from django_celery_results.models import TaskResult

from botsmith import health, metrics
from sources.services import queue_state
from tests import brokers
from tests.factories import UserFactory
from tests.worker import BASE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "transport": s.CELERY_BROKER_TRANSPORT_OPTIONS, "cache": s.CACHES["default"]["BACKEND"],
    "cache_location": s.CACHES["default"].get("LOCATION", ""), "ops_redis": s.OPERATIONS_REDIS_URL,
    "ops_prefix": s.OPERATIONS_KEY_PREFIX, "rabbit": s.CELERY_BROKER_IS_RABBITMQ,
    "queues": {q.name: [q.exchange.type, q.queue_arguments] for q in s.CELERY_TASK_QUEUES},
}))
"""


def _settings(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REDIS_URL", "CACHE_"))}
    proc = subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=True,
        env={**clean, "BOTSMITH_ENV_FILE": "/nonexistent", "DJANGO_SETTINGS_MODULE": "botsmith.settings",
             "SECRET_KEY": "x" * 50, **env},
    )
    return json.loads(proc.stdout)


def test_redis_stays_the_default_broker_and_holds_cache_and_heartbeats():
    conf = _settings()
    assert conf["rabbit"] is False
    assert conf["transport"]["visibility_timeout"] == 7200
    assert conf["ops_redis"] == conf["cache_location"] == "redis://127.0.0.1:6379/0"


def test_on_rabbitmq_the_cache_and_heartbeats_use_redis_url_and_no_redis_option_reaches_amqp():
    conf = _settings(CELERY_BROKER_URL="amqp://u:p@mq:5672/prod", REDIS_URL="redis://cache:6379/2",
                     CELERY_BROKER_KEY_PREFIX="prod:")
    assert conf["rabbit"] is True
    assert conf["transport"] == {"confirm_publish": True}
    assert conf["ops_redis"] == conf["cache_location"] == "redis://cache:6379/2"
    assert conf["ops_prefix"] == "prod:"
    assert conf["queues"]["documents"] == ["direct", None]  # classic queues unless asked


def test_on_rabbitmq_without_redis_the_cache_is_per_process_and_heartbeats_are_off():
    conf = _settings(CELERY_BROKER_URL="amqp://u:p@mq:5672/prod", REDIS_URL="")
    assert conf["ops_redis"] == ""
    assert conf["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_quorum_setting_declares_every_task_queue_as_quorum_on_a_topic_exchange():
    conf = _settings(CELERY_BROKER_URL="amqp://u:p@mq:5672/prod", CELERY_RABBITMQ_QUORUM_QUEUES="true")
    assert set(conf["queues"]) == {"default", "documents", "websites", "notifications", "embeddings"}
    for exchange_type, arguments in conf["queues"].values():
        assert (exchange_type, arguments) == ("topic", {"x-queue-type": "quorum"})
    # Ignored with Redis: quorum queues are a RabbitMQ feature.
    assert _settings(CELERY_RABBITMQ_QUORUM_QUEUES="true")["queues"]["documents"] == ["direct", None]


def test_lost_message_detection_degrades_to_every_id_held_on_rabbitmq():
    app = Celery("no-peeking", broker="amqp://guest:guest@127.0.0.1:1//", set_as_current=False)
    assert queue_state.held_task_ids(app, ["a", "b", ""], ["documents"]) == {"a", "b"}


@pytest.fixture
def staff_client(anon_client):
    anon_client.force_authenticate(UserFactory(is_staff=True))
    return anon_client


@pytest.mark.integration
@pytest.mark.brokers("rabbitmq")
def test_health_and_metrics_on_rabbitmq_read_heartbeats_from_redis_and_depths_from_rabbitmq(
    staff_client, broker, monkeypatch
):
    rabbit = broker
    monkeypatch.setattr(health, "app", rabbit.app)
    monkeypatch.setattr(metrics, "app", rabbit.app)
    rabbit.start_worker(concurrency=1)  # consumes every queue but `embeddings`
    for _ in range(3):
        rabbit.app.send_task("botsmith.ping", queue="embeddings")

    deadline = time.monotonic() + 20
    while (response := staff_client.get("/api/health/")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)

    assert response.status_code == 200, response.data
    assert response.data["checks"]["broker"] == {"ok": True, "detail": "rabbitmq"}
    assert response.data["checks"]["worker"] == {"ok": True, "detail": "1 worker(s)"}
    assert response.data["queues"]["embeddings"]["depth"] == 3
    assert response.data["queues"]["embeddings"]["workers"] == 0
    assert response.data["queues"]["documents"] == {"depth": 0, "oldest_message_age_seconds": 0, "workers": 1}
    scrape = staff_client.get("/metrics").content.decode()
    assert "botsmith_broker_up 1.0" in scrape
    assert 'botsmith_queue_depth{queue="embeddings"} 3.0' in scrape
    assert "botsmith_workers_up 1.0" in scrape


def test_health_names_the_broker_when_rabbitmq_is_unreachable(staff_client, monkeypatch):
    app = Celery("down", broker="amqp://guest:guest@127.0.0.1:1//", set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False
    monkeypatch.setattr(health, "app", app)

    response = staff_client.get("/api/health/")

    assert response.status_code == 503
    assert response.data["down"] == ["broker", "worker"]
    assert response.data["checks"]["broker"]["ok"] is False


@pytest.mark.integration
@pytest.mark.brokers("rabbitmq", quorum=True)
def test_quorum_queues_run_tasks_and_countdowns_use_native_delayed_delivery(broker):
    worker = broker.start_worker(concurrency=1)
    vhost = broker.env["CELERY_BROKER_URL"].rsplit("/", 1)[1]
    listed = brokers.rabbitmqctl("list_queues", "-p", vhost, "name", "type", "--no-table-headers")
    types = dict(line.split() for line in listed.splitlines() if line.strip())
    assert {types[name] for name in ("default", "documents", "websites", "notifications")} == {"quorum"}

    now = broker.app.send_task("botsmith.ping")
    later = broker.app.send_task("botsmith.ping", countdown=2)

    assert now.get(timeout=30) == "pong"
    assert later.get(timeout=60) == "pong"
    rows = {row.task_id: row for row in TaskResult.objects.filter(task_id__in=[now.id, later.id])}
    assert rows[later.id].date_done - rows[now.id].date_done >= timedelta(seconds=1)
    # The countdown waited in RabbitMQ's delay queues (native delayed delivery), not in the worker.
    assert any(name.startswith("celery_delayed_") for name in types), types
    assert "Direct exchanges are not supported" not in worker.log_path.read_text(errors="replace")
