"""A real worker on a real Redis: tasks run, results land in the database, all queues are consumed."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult

from analytics.tasks import cleanup_old_data
from botsmith.celery import app as celery_app
from botsmith.celery import ping

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
    hostname = celery_worker.name.replace("%h", __import__("os").uname().nodename)
    queues = celery_app.control.inspect(destination=[hostname], timeout=3).active_queues()
    assert queues is not None
    assert {q["name"] for q in queues[hostname]} == {"default", "documents", "websites", "notifications"}


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
