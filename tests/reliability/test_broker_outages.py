"""Broker restarted or down: queued and running work survives, the worker reconnects, nothing runs twice.

Each Redis test has its own append-only Redis (see ``conftest.py``); the shared Redis is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sources.models import Chunk, Source
from tests import brokers
from tests.reliability.postgres import TcpProxy
from tests.sources.helpers_sources import wait_for_source
from tests.sources.test_crash_recovery import big_csv

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _reading(source_id: int):
    def check() -> bool:
        source = Source.objects.get(pk=source_id)
        assert source.status in Source.ACTIVE_STATUSES, (source.status, source.error_message)
        return source.status == Source.Status.PROCESSING and source.units_done > 0
    return check


def _assert_one_chunk_set(source: Source) -> None:
    chunks = Chunk.objects.filter(source=source)
    assert chunks.count() == source.chunk_count > 0
    assert set(chunks.values_list("generation", flat=True)) == {source.active_generation}
    assert not chunks.filter(is_active=False).exists()
    assert list(chunks.order_by("ordinal").values_list("ordinal", flat=True)) == list(range(source.chunk_count))


class WorkerDiedOnBrokerLoss(AssertionError):
    """The worker process exited when it lost Redis instead of reconnecting."""


def _assert_worker_survived(worker) -> None:
    """A dying worker first finishes its running tasks (warm shutdown), so its log tells before its exit does."""
    crash = [line for line in worker.log_path.read_text(errors="replace").splitlines() if "Unrecoverable error" in line]
    exited = worker.proc is not None and worker.proc.poll() is not None
    if crash or exited:
        raise WorkerDiedOnBrokerLoss(f"worker shut down after the Redis restart (exited={exited}): {crash}")


def _wait_for_source_while_worker_lives(worker, source_id: int, timeout: float) -> Source:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.get(pk=source_id)
        if source.is_finished:
            return source
        _assert_worker_survived(worker)
        time.sleep(0.2)
    return wait_for_source(source_id, timeout=0)


def _broker_keys(broker, name: str) -> int:
    """Messages still held by the private Redis in queue ``name`` or in the unacknowledged set."""
    client = broker.server.client()
    if name == "unacked":
        return client.hlen(f"{broker.prefix}unacked")
    return client.llen(f"{broker.prefix}{name}")


def test_redis_restarted_mid_ingestion_task_finishes_once_and_new_work_flows(chatbot, private_broker, file_source):
    worker = private_broker.start_worker()
    source = file_source(chatbot, big_csv(400_000))
    private_broker.send(source)
    _wait(_reading(source.pk), 90, "the document to start processing")

    private_broker.server.restart()  # graceful stop + start: the append-only file keeps the messages
    back = time.monotonic()
    assert Source.objects.get(pk=source.pk).status == Source.Status.PROCESSING, "finished before the outage"
    small = file_source(chatbot, b"Sent right after Redis came back.", name="after.txt")
    private_broker.send(small)

    small = _wait_for_source_while_worker_lives(worker, small.pk, timeout=30)
    consumed_after = time.monotonic() - back
    assert small.status == Source.Status.COMPLETED, (small.error_code, small.error_message)
    assert consumed_after < 30

    source = _wait_for_source_while_worker_lives(worker, source.pk, timeout=180)
    assert source.status == Source.Status.COMPLETED, (source.error_code, source.error_message, worker.log_tail())
    assert source.units_done == 400_000
    _assert_one_chunk_set(source)
    _assert_one_chunk_set(small)
    # Nothing left to redeliver later: the run was acknowledged (or redelivered and finished) once.
    _wait(lambda: _broker_keys(private_broker, "unacked") == 0, 15, "no unacknowledged message left")
    assert _broker_keys(private_broker, "documents") == 0
    _assert_worker_survived(worker)
    print(f"new task consumed {consumed_after:.1f}s after Redis came back; big document attempts={source.attempts}")


def test_worker_started_while_redis_is_down_runs_queued_work_when_redis_comes_up(
    chatbot, private_broker, file_source
):
    source = file_source(chatbot, b"Queued while Redis was up, processed after it came back.", name="queued.txt")
    private_broker.send(source)
    assert _broker_keys(private_broker, "documents") == 1
    private_broker.server.stop()

    worker = private_broker.start_worker(wait=False)
    time.sleep(8)  # several connection attempts fail
    assert worker.proc is not None and worker.proc.poll() is None, f"worker exited:\n{worker.log_tail()}"
    assert "Cannot connect to redis" in worker.log_tail(200)
    assert Source.objects.get(pk=source.pk).status == Source.Status.PENDING

    private_broker.server.start()  # same port, same directory: the queued message is read back
    back = time.monotonic()
    source = wait_for_source(source.pk, timeout=60)
    waited = time.monotonic() - back

    assert source.status == Source.Status.COMPLETED, (source.error_code, source.error_message, worker.log_tail())
    assert source.attempts == 1
    _assert_one_chunk_set(source)
    assert _broker_keys(private_broker, "documents") == 0
    print(f"queued task completed {waited:.1f}s after Redis came up")


# --- RabbitMQ ----------------------------------------------------------------------------------
# The shared RabbitMQ is never restarted (other runs use it): a TCP proxy between the worker and
# RabbitMQ cuts every connection and refuses new ones, which is what a worker sees while the broker
# restarts. RabbitMQ then requeues what the cut connection had not acknowledged.


@pytest.fixture
def rabbitmq_proxy() -> Iterator[TcpProxy]:
    host, port = brokers.RABBITMQ_URL.rsplit("@", 1)[1].split(":")
    proxy = TcpProxy(host, int(port))
    yield proxy
    proxy.close()


def _through(proxy: TcpProxy, broker) -> dict[str, str]:
    url = broker.env["CELERY_BROKER_URL"]
    vhost = url.rsplit("/", 1)[1]
    return {"CELERY_BROKER_URL": f"{brokers.RABBITMQ_URL.rsplit('@', 1)[0]}@127.0.0.1:{proxy.port}/{vhost}"}


@pytest.mark.brokers("rabbitmq")
def test_rabbitmq_connection_lost_mid_ingestion_task_finishes_once_and_new_work_flows(
    chatbot, broker, rabbitmq_proxy, file_source
):
    worker = broker.start_worker(env=_through(rabbitmq_proxy, broker))
    source = file_source(chatbot, big_csv(400_000))
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    _wait(_reading(source.pk), 90, "the document to start processing")

    rabbitmq_proxy.outage()
    _wait(lambda: broker.queue_length("documents") == 1, 30, "RabbitMQ to requeue the unacknowledged message")
    time.sleep(2)  # a few failed reconnection attempts
    assert Source.objects.get(pk=source.pk).status == Source.Status.PROCESSING, "finished before the outage"
    rabbitmq_proxy.restore()
    back = time.monotonic()
    small = file_source(chatbot, b"Sent right after RabbitMQ came back.", name="after.txt")
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": small.pk}, task_id=small.task_id)

    small = _wait_for_source_while_worker_lives(worker, small.pk, timeout=60)
    consumed_after = time.monotonic() - back
    assert small.status == Source.Status.COMPLETED, (small.error_code, small.error_message)

    source = _wait_for_source_while_worker_lives(worker, source.pk, timeout=180)
    assert source.status == Source.Status.COMPLETED, (source.error_code, source.error_message, worker.log_tail())
    assert source.units_done == 400_000
    # The redelivered message (same task id) either took the run over or found it completed: one chunk set.
    assert source.attempts in (1, 2)
    _assert_one_chunk_set(source)
    _assert_one_chunk_set(small)
    _wait(lambda: broker.queue_length("documents") == 0, 30, "the redelivered message to be consumed")
    _assert_worker_survived(worker)
    print(f"new task consumed {consumed_after:.1f}s after RabbitMQ came back; big document attempts={source.attempts}")


@pytest.mark.brokers("rabbitmq")
def test_worker_started_while_rabbitmq_is_unreachable_runs_queued_work_when_it_is_back(
    chatbot, broker, rabbitmq_proxy, file_source
):
    source = file_source(chatbot, b"Queued while the worker could not reach RabbitMQ.", name="queued.txt")
    broker.app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, task_id=source.task_id)
    _wait(lambda: broker.queue_length("documents") == 1, 10, "the message to be queued")
    rabbitmq_proxy.outage()

    worker = broker.start_worker(env=_through(rabbitmq_proxy, broker), wait=False)
    _wait(lambda: "Cannot connect to amqp" in worker.log_tail(200), 30, "failed connection attempts")
    assert worker.proc is not None and worker.proc.poll() is None, f"worker exited:\n{worker.log_tail()}"
    assert Source.objects.get(pk=source.pk).status == Source.Status.PENDING

    rabbitmq_proxy.restore()
    source = wait_for_source(source.pk, timeout=60)

    assert source.status == Source.Status.COMPLETED, (source.error_code, source.error_message, worker.log_tail())
    assert source.attempts == 1
    _assert_one_chunk_set(source)
    assert broker.queue_length("documents") == 0
