"""The parent's side of the warm extraction template: start it once per process, fork a child per document.

See ``sources.extraction_template`` for the protocol. One template serves one process (a Celery
pool process handles one document at a time); a lock keeps a second thread from interleaving.
A dead template (killed, or gone with the thread that started it) is replaced on next use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 60.0
# Environment variables the template (and so every extraction child) must not see: a child reads
# hostile files, and whatever it can read a compromised parser could leak.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL|DATABASE|BROKER|REDIS|_URL|DSN|AUTH",
                         re.IGNORECASE)


class TemplateUnavailable(Exception):
    """The template could not be started or died while starting a child."""


def child_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}
    env["BOTSMITH_SKIP_CELERY_APP"] = "1"
    return env


class Template:
    """A running template process and our end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        from sources.extraction_template import die_with_parent

        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our interpreter and module, no input
                [sys.executable, "-m", "sources.extraction_template", str(theirs.fileno())],
                cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env=child_environment(), pass_fds=(theirs.fileno(),), preexec_fn=die_with_parent,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.owner_pid = os.getpid()
        self.sock.settimeout(READY_TIMEOUT_SECONDS)
        try:
            ready = self.sock.recv(256)
        except OSError:
            ready = b""
        self.sock.settimeout(None)
        if not ready:
            self.close()
            raise TemplateUnavailable("the extraction template did not start")

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.owner_pid == os.getpid():
            if self.proc.poll() is None:
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def start_child(self, request: dict[str, Any], stdout_fd: int, stderr_fd: int) -> int:
        """Fork a child for ``request`` writing to the two descriptors; returns its pid."""
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], [stdout_fd, stderr_fd])
            answer = self.sock.recv(256)
        except OSError as exc:
            raise TemplateUnavailable(str(exc)) from exc
        if not answer:
            raise TemplateUnavailable("the extraction template exited")
        return int(json.loads(answer)["pid"])

    def reap(self) -> tuple[int, int]:
        """After the child's output ended or it was killed: its exit code and peak RSS in bytes."""
        try:
            self.sock.send(b"reap")
            answer = self.sock.recv(256)
        except OSError:
            answer = b""
        if not answer:
            return -9, 0  # the template died, and the child with it (PR_SET_PDEATHSIG)
        result = json.loads(answer)
        return int(result["status"]), int(result["maxrss"])


_lock = threading.Lock()
_template: Template | None = None


def acquire() -> Template:
    """The process's template, started (or restarted) if needed; hold ``_lock`` via ``lock()``."""
    global _template
    if _template is None or not _template.alive():
        if _template is not None:
            _template.close()
        _template = None
        _template = Template()
    return _template


def discard() -> None:
    """Drop a template whose conversation went wrong; the next document starts a new one."""
    global _template
    if _template is not None:
        _template.close()
        _template = None


def lock() -> threading.Lock:
    return _lock
