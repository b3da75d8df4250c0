"""Shared fixtures: API clients, users, and a real Celery worker on a real Redis for integration tests."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management.base import CommandError
from django.test import override_settings, testcases
from rest_framework.test import APIClient

from botsmith.celery import app as celery_app
from tests import brokers
from tests.factories import ChatbotFactory, UserFactory
from tests.worker import WorkerProcess, database_url_for_tests

_flush_database = testcases.TransactionTestCase._fixture_teardown


def _flush_database_retrying_deadlocks(self: testcases.TransactionTestCase) -> None:
    """Empty the database after a transactional test, retrying when PostgreSQL reports a deadlock.

    The session's worker may still be finishing a task that the test queued last (a notification
    about the source that just failed, say) while the flush TRUNCATEs the tables it writes to;
    PostgreSQL then breaks the lock cycle by failing the flush. The worker's insert finishes a
    moment later, so a second flush succeeds and empties everything, that row included.
    """
    for attempt in range(5):
        try:
            _flush_database(self)
            return
        except CommandError as exc:
            if attempt == 4 or "deadlock detected" not in str(exc.__cause__ or exc):
                raise
            time.sleep(0.5 * (attempt + 1))


testcases.TransactionTestCase._fixture_teardown = _flush_database_retrying_deadlocks  # type: ignore[method-assign]

# One broker key prefix per test run: queues of this run are invisible to any other worker
# (a developer's `make run`, another test run) sharing the same Redis database.
BROKER_KEY_PREFIX = f"botsmith-test-{uuid.uuid4().hex[:10]}:"
# The shared Redis cache gets a key prefix under the broker's, so pytest_unconfigure drops both.
CACHE_KEY_PREFIX = f"{BROKER_KEY_PREFIX}cache"
_TMP_ROOT = Path(tempfile.mkdtemp(prefix="botsmith-tests-"))
WORKER_QUEUES = [queue.name for queue in settings.CELERY_TASK_QUEUES]
MEDIA_ROOT = _TMP_ROOT / "media"


def pytest_configure(config: pytest.Config) -> None:
    MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    caches = {name: {**options} for name, options in settings.CACHES.items()}
    if caches["default"]["BACKEND"] == "botsmith.cache.PrefixedRedisCache":
        caches["default"]["KEY_PREFIX"] = CACHE_KEY_PREFIX
    override_settings(MEDIA_ROOT=str(MEDIA_ROOT), CACHES=caches).enable()
    options = dict(celery_app.conf.broker_transport_options or {})
    options["global_keyprefix"] = BROKER_KEY_PREFIX
    celery_app.conf.broker_transport_options = options


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this run's broker keys so repeated runs leave nothing behind in Redis (nor vhosts in RabbitMQ)."""
    brokers.delete_leftover_vhosts()
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1)
        for key in client.scan_iter(match=f"{BROKER_KEY_PREFIX}*", count=1000):
            client.delete(key)
    except (redis.RedisError, ValueError):
        pass


@pytest.fixture(scope="session")
def redis_available() -> None:
    """Integration tests need the real broker: fail loudly (not skip) when Redis is down."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        pytest.fail(f"Integration tests need a Redis broker; CELERY_BROKER_URL is {url!r}")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is unreachable ({exc}); start it (see README) and re-run.")


@pytest.fixture(scope="session")
def worker_env(django_db_setup: None, django_db_blocker, redis_available: None) -> dict[str, str]:
    with django_db_blocker.unblock():
        database_url = database_url_for_tests()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_KEY_PREFIX": BROKER_KEY_PREFIX,
            "CACHE_KEY_PREFIX": CACHE_KEY_PREFIX,
            "MEDIA_ROOT": str(MEDIA_ROOT),
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "false",
            "SCRAPER_ALLOW_PRIVATE_NETWORKS": "true",
            "SCRAPER_DELAY_SECONDS": "0",
            "HEARTBEAT_INTERVAL_SECONDS": "0.2",
            "WORKER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def start_worker(worker_env: dict[str, str]) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory for extra workers (fault-injection tests); all are stopped at the end of the run."""
    started: list[WorkerProcess] = []

    def start(*, wait: bool = True, env: dict[str, str] | None = None, **kwargs) -> WorkerProcess:
        extra_args = list(kwargs.pop("extra_args", ()))
        if "-Q" not in extra_args:
            # Every queue but ``embeddings``: embedding runs (CPU-heavy, queued by every completed
            # document) happen only in the workers the retrieval tests start for them.
            extra_args += ["-Q", ",".join(q for q in WORKER_QUEUES if q != "embeddings")]
        worker = WorkerProcess({**worker_env, **(env or {})}, _TMP_ROOT, extra_args=extra_args, **kwargs).start()
        started.append(worker)
        if wait:
            worker.wait_ready(celery_app)
        return worker

    yield start
    for worker in started:
        worker.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for ``broker`` runs once per broker under test (tests/brokers.py says which)."""
    if "broker" in metafunc.fixturenames:
        chosen = brokers.brokers_under_test()
        wanted = list(brokers.BROKERS)
        only = metafunc.definition.get_closest_marker("brokers")
        if only is not None:
            wanted = [name for name in wanted if name in only.args]
        params = [
            name if name in chosen else pytest.param(name, marks=pytest.mark.skip(
                reason=f"{name} not in TEST_BROKERS ({','.join(chosen)}); by default RabbitMQ runs on PostgreSQL"))
            for name in wanted
        ]
        metafunc.parametrize("broker", params, indirect=True)


@pytest.fixture(scope="session")
def rabbitmq_available() -> None:
    brokers.check_rabbitmq()


@pytest.fixture
def broker(request: pytest.FixtureRequest, start_worker: Callable[..., WorkerProcess]) -> Iterator[brokers.Namespace]:
    """This test's own namespace on the broker of its parameter: a key prefix on Redis, a vhost on RabbitMQ."""
    if request.param == "rabbitmq":
        request.getfixturevalue("rabbitmq_available")
        only = request.node.get_closest_marker("brokers")
        quorum = bool(only and only.kwargs.get("quorum"))
        namespace = brokers.rabbitmq_namespace(BROKER_KEY_PREFIX, start_worker, quorum=quorum)
    else:
        namespace = brokers.redis_namespace(BROKER_KEY_PREFIX, start_worker)
    yield namespace
    namespace.close()


@pytest.fixture(scope="session")
def celery_worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    """The run's shared worker: consumes every queue but ``embeddings``, like `celery -A botsmith worker`.

    Embedding runs only where a test asks for them (``embeddings_worker`` in tests/retrieval), so the
    CPU they take never slows the rest of the suite.
    """
    return start_worker()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; user ids repeat across tests, so start each test clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def chatbot(user):
    return ChatbotFactory(owner=user)


@pytest.fixture
def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_client(other_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(other_user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
