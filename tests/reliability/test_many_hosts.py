"""Web, document worker and notification worker as three hosts (network namespaces) that share no disk.

Redis, SeaweedFS (S3) and a forwarder to PostgreSQL listen on one services address in the root
namespace; each host reaches them over its veth link and has its own empty MEDIA_ROOT, so an upload
can only travel web -> bucket -> worker. The test talks HTTP to the web host from the root namespace.
Both workers run beat (``-B``): the schedule lock must let exactly one send each slot.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from celery import Celery
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from rest_framework.authtoken.models import Token

from botsmith.models import ScheduleLock
from notifications.models import Notification
from sources.models import Source
from tests.factories import ChatbotFactory, UserFactory
from tests.fixtures import documents
from tests.fixtures.netns import Host, Network, Process, missing_capability, wait_for
from tests.fixtures.s3 import S3Server, free_ports, start_s3_server
from tests.worker import BASE_DIR, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

WEB_PORT = 8000
BEAT_EVERY_SECONDS = 2
BEAT_MIN_ACTIVE_SECONDS = 40  # long enough that two unlocked beats would send about twice the bound
BEAT_MIN_BOTH_READY_SECONDS = 20  # and both beats up for many slots, however slow the start was
SETTLED_AFTER_PERIODS = 3
SKIP_LINE = "already sent for this slot by another scheduler"


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.net = Network()
        self.processes: list[Process] = []
        self.workers: list[WorkerProcess] = []
        self.s3: S3Server | None = None
        self.app: Celery | None = None

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for process in reversed(self.processes):
            process.stop()
        if self.s3 is not None:
            self.s3.stop()
        if self.app is not None:
            self.app.close()
        self.net.close()


def _require_capability() -> None:
    problem = missing_capability()
    for tool in ("socat", "redis-server"):
        if not problem and shutil.which(tool) is None:
            problem = f"`{tool}` is not installed (.ci/run installs it)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the many-hosts test must run in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if connection.vendor != "postgresql":
        pytest.skip("many hosts need a networked database: SQLite cannot be shared without a shared disk "
                    "(run with DATABASE_URL=postgres://...)")
    _require_capability()
    made = Cluster(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _start_services(cluster: Cluster) -> dict[str, str]:
    """Redis, S3 and a PostgreSQL forwarder on the services address; the env every host shares."""
    address = cluster.net.add_services_address()
    redis_port, pg_port = free_ports(2, address)
    cluster.processes.append(Process(
        ["redis-server", "--bind", address, "--port", str(redis_port), "--save", "", "--appendonly", "no",
         "--protected-mode", "no", "--dir", str(cluster.tmp)], cluster.tmp / "redis.log"))
    sd = connection.settings_dict
    pg_target = f"TCP:{sd.get('HOST') or '127.0.0.1'}:{sd.get('PORT') or 5432}"
    cluster.processes.append(Process(
        ["socat", f"TCP-LISTEN:{pg_port},bind={address},fork,reuseaddr", pg_target], cluster.tmp / "socat.log"))
    cluster.s3 = start_s3_server(address)
    broker = f"redis://{address}:{redis_port}/0"
    wait_for(lambda: _redis_up(broker), 20, "the services Redis did not answer", cluster.processes[0].log_tail)
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    return {
        "DATABASE_URL": f"postgres://{sd.get('USER') or 'postgres'}{password}@{address}:{pg_port}/{sd['NAME']}",
        "CELERY_BROKER_URL": broker, "REDIS_URL": broker, "CACHE_URL": f"redis://{address}:{redis_port}/1",
        "CELERY_BROKER_KEY_PREFIX": "", "CACHE_KEY_PREFIX": "many-hosts",
        **cluster.s3.env(location=f"hosts-{uuid.uuid4().hex[:6]}"),
    }


def _redis_up(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _host_env(shared: dict[str, str], media: Path, **extra: str) -> dict[str, str]:
    media.mkdir(parents=True)
    return {
        **os.environ, **shared, "MEDIA_ROOT": str(media), "SECRET_KEY": "many-hosts-test-secret-key-0123456789",
        "DEBUG": "false", "PYTHONUNBUFFERED": "1", "HEARTBEAT_INTERVAL_SECONDS": "0.5", **extra,
    }


def _start_worker(cluster: Cluster, host: Host, env: dict[str, str], queues: str) -> WorkerProcess:
    log_dir = cluster.tmp / host.name
    log_dir.mkdir()
    worker = WorkerProcess(env, log_dir, concurrency=2, beat=True, extra_args=["-Q", queues],
                           exec_prefix=host.exec_prefix()).start()
    cluster.workers.append(worker)
    return worker


def _received(log: str, task: str) -> int:
    """How many ``task`` messages the worker whose log this is took from the broker."""
    return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] received", log))


def _sent_and_skipped(workers: list[WorkerProcess], name: str) -> tuple[int, int]:
    logs = "".join(w.log_path.read_text(errors="replace") for w in workers)
    due = len(re.findall(rf"Sending due task {re.escape(name)} ", logs))
    skipped = len(re.findall(rf"{re.escape(name)} {SKIP_LINE}", logs))
    return due - skipped, skipped


def test_web_and_workers_on_separate_hosts_share_only_the_services(cluster: Cluster):
    shared = _start_services(cluster)
    web, documents_host, notifications_host = (cluster.net.add_host(r) for r in ("web", "docs", "notify"))
    ping_name = f"many-hosts-ping-{uuid.uuid4().hex[:6]}"
    every = IntervalSchedule.objects.create(every=BEAT_EVERY_SECONDS, period=IntervalSchedule.SECONDS)
    periodic = PeriodicTask.objects.create(name=ping_name, task="botsmith.ping", interval=every)
    media = {h.name: cluster.tmp / "media" / h.name for h in (web, documents_host, notifications_host)}

    beats_started = time.monotonic()
    doc_worker = _start_worker(cluster, documents_host, _host_env(shared, media[documents_host.name]),
                               "documents,default,websites")
    notify_worker = _start_worker(cluster, notifications_host, _host_env(shared, media[notifications_host.name]),
                                  "notifications")
    web_server = Process(
        [*web.exec_prefix(), sys.executable, "manage.py", "runserver", "--noreload", f"{web.address}:{WEB_PORT}"],
        cluster.tmp / "web.log", cwd=BASE_DIR,
        env=_host_env(shared, media[web.name], ALLOWED_HOSTS=web.address, UPLOAD_THROTTLE_RATE="1000/min"))
    cluster.processes.append(web_server)
    base_url = f"http://{web.address}:{WEB_PORT}"
    cluster.app = app = Celery("many-hosts", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = shared["CELERY_BROKER_URL"]
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    doc_worker.wait_ready(app, timeout=90)
    notify_worker.wait_ready(app, timeout=90)
    both_ready = time.monotonic()
    wait_for(lambda: _answers(f"{base_url}/api/"), 90, "the web host did not answer", web_server.log_tail)

    user = UserFactory()
    chatbot = ChatbotFactory(owner=user)
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    pdf = documents.build_pdf([f"Host page {n} describes the namespace topic {n}. " * 6 for n in range(1, 4)])

    response = http.post(f"{base_url}/api/chatbots/{chatbot.pk}/sources/upload/",
                         files={"file": ("hosts.pdf", pdf, "application/pdf")}, timeout=60)
    assert response.status_code == 202, response.text
    source_id = response.json()["sources"][0]["source_id"]
    wait_for(lambda: Source.objects.get(pk=source_id).status in Source.FINISHED_STATUSES, 120,
             "the document host did not finish the upload", doc_worker.log_tail)

    source = Source.objects.get(pk=source_id)
    assert source.status == "completed", (source.error_code, source.error_message, doc_worker.log_tail())
    location = shared["AWS_LOCATION"]
    assert cluster.s3 is not None and f"{location}/{source.file.name}" in cluster.s3.keys(location)
    assert [p for root in media.values() for p in root.rglob("*") if p.is_file()] == []
    chunks = http.get(f"{base_url}/api/sources/{source_id}/chunks/", timeout=30).json()["results"]
    assert len(chunks) == source.chunk_count >= 1
    assert "namespace topic 3" in " ".join(c["text"] for c in chunks)

    # The "document ready" notice went through the notifications queue to its own host only.
    wait_for(lambda: Notification.objects.filter(user=user).exists(), 60,
             "no notification was delivered", notify_worker.log_tail)
    done = r"Task notifications\.tasks\.send_notification\[[0-9a-f-]+\] succeeded"
    wait_for(lambda: re.search(done, notify_worker.log_path.read_text()), 30,
             "the notifications host logged no finished notification task", notify_worker.log_tail)
    notify_log, doc_log = notify_worker.log_path.read_text(), doc_worker.log_path.read_text()
    assert _received(notify_log, "notifications.tasks.send_notification") >= 1
    received_there = set(re.findall(r"Task ([\w.]+)\[[0-9a-f-]+\] received", notify_log))
    assert received_there == {"notifications.tasks.send_notification"}, received_there
    assert _received(doc_log, "sources.tasks.process_document") >= 1
    assert _received(doc_log, "notifications.tasks.send_notification") == 0

    # Beat on both hosts: keep them running long enough, then stop the schedule and count.
    until = max(beats_started + BEAT_MIN_ACTIVE_SECONDS, both_ready + BEAT_MIN_BOTH_READY_SECONDS)
    if until > time.monotonic():
        time.sleep(until - time.monotonic())  # the beats' own clocks drive this part: there is no condition to poll
    periodic.enabled = False
    periodic.save()  # save(), not update(): its signal tells the schedulers the schedule changed
    wait_for(lambda: _settled(cluster.workers, ping_name), 30, "the beats kept sending after the task was disabled",
             lambda: str(_sent_and_skipped(cluster.workers, ping_name)))
    # Every send happened between the first worker's start and the start of the quiet spell.
    elapsed = time.monotonic() - SETTLED_AFTER_PERIODS * BEAT_EVERY_SECONDS - beats_started
    sent, skipped = _sent_and_skipped(cluster.workers, ping_name)
    assert "beat: Starting" in doc_log and "beat: Starting" in notify_log
    assert skipped >= 1, "only one beat ever tried: the lock was not exercised"
    assert 3 <= sent <= elapsed / BEAT_EVERY_SECONDS + 2, (sent, skipped, elapsed)
    assert ScheduleLock.objects.filter(name=ping_name).count() == 1
    wait_for(lambda: TaskResult.objects.filter(task_name="botsmith.ping").count() == sent, 60,
             f"the document host did not run the {sent} pings the beats sent", doc_worker.log_tail)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


_last_counts: dict[str, tuple[int, int, float]] = {}


def _settled(workers: list[WorkerProcess], name: str) -> bool:
    """True once the send count has not moved for three periods."""
    counts = _sent_and_skipped(workers, name)
    now = time.monotonic()
    previous = _last_counts.get(name)
    if previous is None or previous[:2] != counts:
        _last_counts[name] = (*counts, now)
        return False
    return now - previous[2] >= SETTLED_AFTER_PERIODS * BEAT_EVERY_SECONDS
