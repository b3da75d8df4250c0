"""PostgreSQL refusing connections or restarting while tasks start and finish: nothing is lost.

The worker reaches PostgreSQL through a proxy the test controls. An outage cuts every open
connection and refuses new ones, so it can strike while Celery records STARTED, inside the body
(claim, progress, chunk writes) or while it stores the result. Each source must still end
``completed`` (or ``failed`` with an error code), and none may stay ``pending`` or ``processing``
with no task behind it.
"""

from __future__ import annotations

import time

import pytest
from celery.exceptions import Reject
from django.db import OperationalError

from botsmith.errors import ErrorCode
from botsmith.results import RetryingDatabaseBackend
from sources.models import Source
from tests.reliability.postgres import requires_postgres, wait_until_finished

pytestmark = [pytest.mark.reliability]

DOCUMENTS = 12


def _text(index: int) -> bytes:
    return ("\n\n".join(f"Paragraph {p} of document {index}: " + "words " * 80 for p in range(8))).encode()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@requires_postgres
def test_database_outages_while_tasks_start_and_finish_lose_no_source(
    chatbot, private_broker, pg_proxy, file_source, limited_role
):
    role = limited_role(10)
    worker = private_broker.start_worker(
        concurrency=2, env={"DATABASE_URL": role.url(port=pg_proxy.port), "RESULT_BACKEND_MAX_RETRIES": "3"}
    )
    sources = [file_source(chatbot, _text(i), name=f"doc-{i}.txt", chunk_size=200, chunk_overlap=20)
               for i in range(DOCUMENTS)]
    ids = [s.pk for s in sources]

    # 1. Refusing before anything starts: STARTED cannot be recorded, the claim cannot be made.
    pg_proxy.outage()
    for source in sources:
        private_broker.send(source)
    time.sleep(3)
    pg_proxy.restore()
    # 2. Restarts while tasks claim, write chunks and store results: cut everything, briefly
    #    refuse, come back; a few times, at whatever point each task has reached.
    for _ in range(4):
        time.sleep(1.0)
        pg_proxy.outage()
        time.sleep(1.0)
        pg_proxy.restore()

    wait_until_finished(ids, lambda: worker.log_tail(80))

    finished = list(Source.objects.filter(pk__in=ids))
    outcomes = {(s.status, s.error_code) for s in finished}
    assert outcomes <= {(Source.Status.COMPLETED, ""), (Source.Status.FAILED, ErrorCode.INTERNAL),
                        (Source.Status.FAILED, ErrorCode.CRASHED)}, outcomes
    completed = [s for s in finished if s.status == Source.Status.COMPLETED]
    assert completed, "no source completed after the database came back"
    for source in completed:
        assert source.chunk_count >= 1 and source.error_message == ""
    for source in finished:
        if source.status == Source.Status.FAILED:
            assert source.error_message  # a clear message for the owner
    log = worker.log_tail(5000)
    assert pg_proxy.cuts >= 5
    assert "Exception raised outside body" not in log or "result store unavailable" in log
    print(f"\n{len(completed)}/{DOCUMENTS} completed, "
          f"{sum(1 for s in finished if s.status == Source.Status.FAILED)} failed with a code, "
          f"{pg_proxy.cuts} outages; requeued after a failed result store: {log.count('requeueing its message')}")


class _Request:
    is_eager = False


def test_result_store_failure_in_a_task_requeues_its_message(monkeypatch):
    """Outside the body (STARTED, result, failure), a database that stays away is not an
    'internal error' to acknowledge: the message goes back to the broker."""
    from botsmith.celery import app

    backend = RetryingDatabaseBackend(app=app)
    monkeypatch.setattr(backend, "max_retries", 2)
    monkeypatch.setattr(backend, "_sleep", lambda amount: None)
    calls = []

    def refused(*args, **kwargs):
        calls.append(args)
        raise OperationalError("connection refused")

    monkeypatch.setattr(backend, "_store_result", refused)
    monkeypatch.setattr("botsmith.results._in_worker_task", lambda: True)

    with pytest.raises(Reject) as excinfo:
        backend.store_result("task-1", None, "STARTED", request=_Request())

    assert excinfo.value.requeue is True
    assert len(calls) == 3  # the first try and two retries with backoff


def test_result_store_failure_outside_a_task_is_raised(monkeypatch):
    from botsmith.celery import app

    backend = RetryingDatabaseBackend(app=app)
    monkeypatch.setattr(backend, "max_retries", 0)
    monkeypatch.setattr(backend, "_store_result", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))

    with pytest.raises(Exception) as excinfo:
        backend.store_result("task-1", None, "STARTED", request=_Request())

    assert not isinstance(excinfo.value, Reject)


def test_outside_a_task_trace_there_is_no_message_to_requeue():
    from botsmith.results import _in_worker_task

    assert _in_worker_task() is False
