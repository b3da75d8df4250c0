"""Start, stop and kill a real ``celery -A botsmith worker`` subprocess for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def database_url_for_tests() -> str:
    """The URL of the test database Django created, for the worker subprocess to share."""
    sd = connection.settings_dict
    if sd["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or ""
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = sd.get("HOST") or "127.0.0.1"
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{sd['NAME']}"


class WorkerProcess:
    """One worker (main process + pool children) with its own log file.

    Every worker of a test run shares ``env`` (database, broker key prefix), so a test can stop
    one worker and start another that picks up the same queues.
    """

    def __init__(self, env: dict[str, str], log_dir: Path, *, concurrency: int = 2,
                 beat: bool = False, extra_args: Sequence[str] = (), exec_prefix: Sequence[str] = ()) -> None:
        self.env = env
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.concurrency = concurrency
        self.beat = beat
        self.extra_args = list(extra_args)
        # e.g. ["ip", "netns", "exec", NAME]: run the worker on another (simulated) host.
        self.exec_prefix = list(exec_prefix)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        args = [
            *self.exec_prefix, sys.executable, "-m", "celery", "-A", "botsmith", "worker",
            "--loglevel=INFO", f"--concurrency={self.concurrency}", "-n", self.name,
            "--without-mingle", "--without-gossip",
        ]
        if self.beat:
            args += ["-B", "-s", str(self.log_path.with_suffix(".beat"))]
        args += self.extra_args
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=BASE_DIR, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, app: Any, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        hostname = self.name.replace("%h", os.uname().nodename)
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            replies = app.control.ping(destination=[hostname], timeout=0.5) or []
            if replies:
                return
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def children(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def pool_children(self) -> list[psutil.Process]:
        """Live Celery pool processes (not the extraction grandchildren, not reaped zombies)."""
        found = []
        for child in self.children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "celery" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                continue
        return found

    def kill_pool_children(self) -> int:
        killed = 0
        for child in self.pool_children():
            try:
                child.send_signal(signal.SIGKILL)
                killed += 1
            except psutil.Error:
                continue
        return killed

    def kill_all(self) -> None:
        """SIGKILL the main process and its pool children, as a crashed machine would."""
        if self.proc is None:
            return
        with_children = self.children()
        for p in [psutil.Process(self.proc.pid), *with_children]:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        else:
            # The main process is gone; make sure no orphaned child keeps running.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def isolated_app(prefix: str) -> Any:
    """A Celery app on the test broker but under its own key prefix: only workers started with
    ``CELERY_BROKER_KEY_PREFIX=prefix`` see what it sends."""
    from celery import Celery

    app = Celery(f"isolated-{prefix}", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": prefix}
    return app
