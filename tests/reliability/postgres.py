"""PostgreSQL fault injection: a login role with a low connection limit, a TCP proxy a test can
make refuse or cut connections (a database restart, seen from the client), and the dev server.

Nothing here touches the shared server's configuration: the role is created and dropped per
test, and the "outage" is the proxy's, between the worker and PostgreSQL.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.worker import BASE_DIR

requires_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (connection limits and outages; SQLite has no server connections): "
    "run with DATABASE_URL=postgres://...",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(*, user: str, host: str = "", port: int | None = None) -> str:
    sd = connection.settings_dict
    host = host or sd.get("HOST") or "127.0.0.1"
    port = port or int(sd.get("PORT") or 5432)
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") and user == sd.get("USER") else ""
    return f"postgres://{user}{password}@{host}:{port}/{sd['NAME']}"


class LimitedRole:
    """A non-superuser login role on the test database with ``CONNECTION LIMIT limit``.

    Superusers ignore connection limits, so the processes under test log in as this role; the
    server answers its (limit+1)th connection with "too many connections for role".
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name = f"botsmith_limited_{uuid.uuid4().hex[:8]}"

    def create(self) -> LimitedRole:
        db = connection.settings_dict["NAME"]
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{self.name}" LOGIN CONNECTION LIMIT {int(self.limit)}')
            cursor.execute(f'GRANT ALL PRIVILEGES ON DATABASE "{db}" TO "{self.name}"')
            cursor.execute(f'GRANT ALL ON SCHEMA public TO "{self.name}"')
            cursor.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{self.name}"')
            cursor.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{self.name}"')
        return self

    def url(self, **kwargs) -> str:
        return database_url(user=self.name, **kwargs)

    def connections(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [self.name])
            return int(cursor.fetchone()[0])

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [self.name])
            cursor.execute(f'DROP OWNED BY "{self.name}"')
            cursor.execute(f'DROP ROLE IF EXISTS "{self.name}"')


class ConnectionSampler:
    """Samples ``pg_stat_activity`` for a role in a thread: the peak number of its connections."""

    def __init__(self, role: str, interval: float = 0.1) -> None:
        self.role = role
        self.interval = interval
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        sd = connection.settings_dict
        with psycopg.connect(host=sd.get("HOST") or "127.0.0.1", port=int(sd.get("PORT") or 5432),
                             user=sd["USER"], password=sd.get("PASSWORD") or None, dbname=sd["NAME"],
                             autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute("SELECT client_port FROM pg_stat_activity WHERE usename = %s",
                                    [self.role]).fetchall()
                self.peak_total = max(self.peak_total, len(rows))
                self._stop.wait(self.interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class TcpProxy:
    """Forwards 127.0.0.1:port to PostgreSQL; ``outage()`` cuts every connection and refuses new
    ones (what clients see while the server restarts) until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.refusing = threading.Event()
        self.cuts = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.refusing.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.5)
                if self._closed.is_set():
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass

    def _cut_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.cuts += 1

    def outage(self) -> None:
        self.refusing.set()
        self._cut_all()

    def restore(self) -> None:
        self.refusing.clear()

    def close(self) -> None:
        self._closed.set()
        self._cut_all()
        self._listener.close()


class DevServer:
    """The web server as ``make run`` starts it (scripts/run_dev.py: ``manage.py runserver``)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log_path = log_dir / f"web-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DevServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "python"), "manage.py", "runserver", f"127.0.0.1:{self.port}"],
            cwd=BASE_DIR, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dev server exited:\n{self.log_tail()}")
            try:
                requests.get(f"{self.url}/api/", timeout=2)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"dev server not answering after {timeout}s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid, *(p.pid for p in parent.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc is None:
            return
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def wait_until_finished(ids: list[int], describe, *, stall: float = 90.0, cap: float = 900.0) -> None:
    """Wait for every source to leave pending/processing. Fails when nothing finished for ``stall``
    seconds (work stopped: the failure this guards against), not after a fixed time, so a slow,
    loaded machine is not mistaken for lost work; ``cap`` only stops a test that never ends."""
    from sources.models import Source

    started = last_progress = time.monotonic()
    active = len(ids)
    while active:
        now_active = Source.objects.filter(pk__in=ids, status__in=Source.ACTIVE_STATUSES).count()
        now = time.monotonic()
        if now_active < active:
            active, last_progress = now_active, now
        if active and (now - last_progress > stall or now - started > cap):
            rows = list(Source.objects.filter(pk__in=ids, status__in=Source.ACTIVE_STATUSES)
                        .values_list("pk", "status", "stage", "attempts")[:10])
            pytest.fail(f"{active} sources still active, none finished for {now - last_progress:.0f}s: "
                        f"{rows}\n{describe()}")
        if active:
            time.sleep(0.25)


@pytest.fixture
def limited_role() -> Iterator[Callable[[int], LimitedRole]]:
    """Factory ``limited_role(limit)``: roles are dropped (their sessions ended) at teardown."""
    roles: list[LimitedRole] = []

    def make(limit: int) -> LimitedRole:
        role = LimitedRole(limit).create()
        roles.append(role)
        return role

    yield make
    for role in roles:
        role.drop()


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    sd = connection.settings_dict
    proxy = TcpProxy(sd.get("HOST") or "127.0.0.1", int(sd.get("PORT") or 5432))
    yield proxy
    proxy.close()
