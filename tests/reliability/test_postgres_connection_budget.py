"""Concurrent uploads through the dev server on PostgreSQL with a low connection limit.

The web server is started as ``make run`` starts it (``manage.py runserver``, threaded) and both
it and the worker log in as a role limited to ``ROLE_LIMIT`` connections: the web pool
(``DB_POOL_MAX_SIZE``) plus one connection per worker process must fit, whatever the number of
concurrent requests. Before the pool, each request thread kept its own connection and the
server answered "too many clients" as HTTP 500.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django_celery_results.models import TaskResult
from rest_framework.authtoken.models import Token

from sources.models import Chunk, Source
from tests.conftest import MEDIA_ROOT
from tests.factories import ChatbotFactory, UserFactory
from tests.reliability.postgres import ConnectionSampler, DevServer, requires_postgres, wait_until_finished

pytestmark = [
    pytest.mark.reliability, pytest.mark.integration, pytest.mark.django_db(transaction=True), requires_postgres,
]

CLIENTS = 8
FILES_PER_CLIENT = 25
ROLE_LIMIT = 8
WEB_POOL_MAX = 4
WORKER_CONCURRENCY = 2


def _text(client: int, index: int) -> bytes:
    words = " ".join(f"word{client}x{index}x{n}" for n in range(60))
    return f"Client {client}, document {index}.\n\n{words}\n".encode()


def test_concurrent_uploads_within_a_connection_limit_complete_exactly_once(
    private_broker, limited_role, tmp_path
):
    role = limited_role(ROLE_LIMIT)
    env = {
        **os.environ, "DATABASE_URL": role.url(), "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": str(WEB_POOL_MAX),
        "DB_POOL_TIMEOUT": "30", "CELERY_BROKER_URL": private_broker.server.url,
        "CELERY_BROKER_KEY_PREFIX": private_broker.prefix, "MEDIA_ROOT": str(MEDIA_ROOT), "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "UPLOAD_THROTTLE_RATE": "100000/min", "PYTHONUNBUFFERED": "1",
    }
    worker = private_broker.start_worker(concurrency=WORKER_CONCURRENCY, env={"DATABASE_URL": role.url()})
    server = DevServer(env, tmp_path).start()
    try:
        clients = []
        for n in range(CLIENTS):
            user = UserFactory()
            clients.append((n, Token.objects.create(user=user).key, ChatbotFactory(owner=user).pk))

        def run_client(n: int, token: str, chatbot_id: int) -> list[tuple[int, object]]:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            answers = []
            for i in range(FILES_PER_CLIENT):
                response = session.post(f"{server.url}/api/chatbots/{chatbot_id}/sources/upload/",
                                        files={"file": (f"c{n}-f{i}.txt", _text(n, i), "text/plain")}, timeout=120)
                answers.append((response.status_code, response.json() if response.ok else response.text[:300]))
            return answers

        with ConnectionSampler(role.name) as sampler, ThreadPoolExecutor(CLIENTS) as pool:
            results = [a for answers in pool.map(lambda c: run_client(*c), clients) for a in answers]
            source_ids = [body["sources"][0]["source_id"] for code, body in results if code == 202]
            wait_until_finished(source_ids, worker.log_tail)
    finally:
        server.stop()

    statuses = [code for code, _ in results]
    assert [s for s in statuses if s >= 500] == [], [r for r in results if r[0] >= 500][:5]
    assert statuses == [202] * (CLIENTS * FILES_PER_CLIENT), [r for r in results if r[0] != 202][:5]
    assert len(set(source_ids)) == CLIENTS * FILES_PER_CLIENT
    sources = list(Source.objects.filter(pk__in=source_ids))
    assert {s.status for s in sources} == {Source.Status.COMPLETED}, [
        (s.pk, s.status, s.error_code, s.error_message) for s in sources if s.status != Source.Status.COMPLETED][:5]
    # Exactly once: one claim each, one active chunk set, one stored success per task id.
    assert {s.attempts for s in sources} == {1}
    for source in sources:
        assert Chunk.objects.filter(source=source).count() == source.chunk_count >= 1
    successes = TaskResult.objects.filter(task_id__in=[s.task_id for s in sources], status="SUCCESS")
    assert successes.count() == len(sources)
    assert sampler.peak_total <= ROLE_LIMIT
    for log in (server.log_tail(2000), worker.log_tail(2000)):
        assert "too many" not in log.lower()
    print(f"\n{len(sources)} uploads by {CLIENTS} clients: all 202, all completed once; "
          f"peak {sampler.peak_total} connections for the role (limit {ROLE_LIMIT}, web pool {WEB_POOL_MAX}, "
          f"worker -c {WORKER_CONCURRENCY})")
