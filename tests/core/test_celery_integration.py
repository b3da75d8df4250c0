"""A real worker on a real Redis: tasks run, results land in the database, all queues are consumed."""

from __future__ import annotations

import os

import pytest
from django_celery_results.models import TaskResult

from analytics.tasks import cleanup_old_data
from botsmith.celery import app as celery_app
from botsmith.celery import ping
from notifications.models import Notification

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_delay_returns_result_and_stores_task_result(celery_worker):
    result = ping.delay()

    assert result.get(timeout=10) == "pong"
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == "SUCCESS"
    assert row.task_name == "botsmith.ping"  # result_extended stores name and arguments
    assert row.worker and row.worker.startswith("test-")


def test_a_worker_without_queue_flags_consumes_all_five_queues(celery_worker):
    # `celery -A botsmith worker` with no -Q consumes the app's declared queues.
    assert set(celery_app.amqp.queues) == {"default", "documents", "websites", "notifications", "embeddings"}
    # The tests' shared worker leaves `embeddings` to the retrieval tests' own worker.
    hostname = celery_worker.name.replace("%h", os.uname().nodename)
    queues = celery_app.control.inspect(destination=[hostname], timeout=3).active_queues()
    assert queues is not None
    assert {q["name"] for q in queues[hostname]} == {"default", "documents", "websites", "notifications"}


def test_each_broker_carries_a_task_to_a_worker_on_every_queue_and_the_result_lands_in_the_database(broker, user):
    worker = broker.start_worker(concurrency=1)
    hostname = worker.name.replace("%h", os.uname().nodename)

    result = broker.app.send_task("botsmith.ping")

    assert result.get(timeout=30) == "pong"
    row = TaskResult.objects.get(task_id=result.id)
    assert (row.status, row.task_name, row.worker) == ("SUCCESS", "botsmith.ping", hostname)
    queues = broker.app.control.inspect(destination=[hostname], timeout=5).active_queues()
    assert queues is not None
    assert {q["name"] for q in queues[hostname]} == {"default", "documents", "websites", "notifications"}
    routed = broker.app.send_task("notifications.tasks.send_notification", args=[user.pk, "Hello", "Routed."])
    assert routed.get(timeout=30)["title"] == "Hello"
    # Consumed from `notifications`, delivered once.
    assert TaskResult.objects.get(task_id=routed.id).worker == hostname
    assert Notification.objects.filter(user=user, title="Hello").count() == 1


def test_routes_send_each_task_to_its_queue():
    router = celery_app.amqp.router
    assert router.route({}, "sources.tasks.process_document")["queue"].name == "documents"
    assert router.route({}, "sources.tasks.scrape_website")["queue"].name == "websites"
    assert router.route({}, "notifications.tasks.send_notification")["queue"].name == "notifications"
    assert router.route({}, "analytics.tasks.cleanup_old_data")["queue"].name == "default"
    assert router.route({}, "retrieval.tasks.embed_source")["queue"].name == "embeddings"
    assert router.route({}, "retrieval.tasks.sync_index")["queue"].name == "default"


def test_cleanup_task_runs_through_worker_with_original_call(celery_worker):
    result = cleanup_old_data.delay(days=90)

    counts = result.get(timeout=10)
    assert isinstance(counts, dict)
    assert TaskResult.objects.filter(task_id=result.id, status="SUCCESS").exists()
