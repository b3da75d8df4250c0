"""Warm template for extraction children: ``python -m sources.extraction_template <socket fd>``.

A pre-started process that has imported every extraction engine once and then only forks: one
fresh child per document, so a child starts in about a millisecond instead of a new interpreter's
fraction of a second, and no document's state can reach the next one (the template never runs an
extractor itself; each child is a copy of the untouched template and exits when done).

The parent (a Celery pool process) talks over a SOCK_SEQPACKET socket, one document at a time:
  parent -> template: request JSON, with two descriptors (the child's stdout and stderr pipes)
  template -> parent: {"pid": n}
  parent -> template: b"reap" once it has the child's output or has killed it
  template -> parent: {"status": exit code, "maxrss": peak bytes}
The child is reaped only after the parent said so, so the pid the parent may kill is never reused.
The template has no database connection and is started with the secrets removed from its
environment; it dies with its parent and its children die with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import json
import os
import resource
import signal
import socket
import sys
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
# Process names (``ps -o comm``, psutil ``name()``) so operators and benchmarks tell them apart.
TEMPLATE_NAME = b"bs-extract-tmpl"
CHILD_NAME = b"bs-extract"
MAX_REQUEST_BYTES = 64 * 1024
PRELOAD = (
    "sources.extraction_child",
    "sources.extractors.pdf",
    "sources.extractors.docx",
    "sources.extractors.xlsx",
    "sources.extractors.csv",
    "sources.extractors.txt",
    "sources.extractors.html",
    "sources.extractors.image",
    "sources.extractors.epub",
    "sources.extractors.mail",
    "sources.extractors.pptx",
    "sources.extractors.odf",
)


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def set_name(name: bytes) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)


def limit_process(memory_mb: int, cpu_seconds: int) -> None:
    """Resource ceilings of one extraction child (also used as the cold child's preexec_fn)."""
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent()


def _child(sock: socket.socket, fds: list[int], request: dict[str, Any], template_pid: int) -> None:
    """In the forked child: never returns."""
    code = 70
    try:
        sock.close()
        set_name(CHILD_NAME)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        sandbox = request["sandbox"]
        limit_process(int(sandbox["memory_mb"]), int(sandbox["cpu_seconds"]))
        if os.getppid() != template_pid:  # the template died before PDEATHSIG was armed
            os._exit(70)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace",
                                      line_buffering=True)
        out = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1024 * 1024),
                               encoding="utf-8", errors="surrogateescape")
        from sources import extraction_child

        code = extraction_child.serve(request, out)
    except BaseException:  # report anything on stderr, exit non-zero
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
        code = 70
    finally:
        os._exit(code)


def serve_forever(sock: socket.socket) -> None:
    template_pid = os.getpid()
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST_BYTES, 2)
        except (ConnectionError, OSError):
            return
        if not data:
            for fd in fds:
                os.close(fd)
            return
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            _child(sock, fds, request, template_pid)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        try:
            answer = sock.recv(64)
        except (ConnectionError, OSError):
            answer = b""
        if not answer:  # the parent is gone: take the child with us
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        if not answer:
            return
        sock.send(json.dumps({"status": os.waitstatus_to_exitcode(status), "maxrss": usage.ru_maxrss * 1024}).encode())


def main() -> int:
    die_with_parent()
    set_name(TEMPLATE_NAME)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sock = socket.socket(fileno=int(sys.argv[1]))
    for module in PRELOAD:
        importlib.import_module(module)
    sock.send(b'{"ready": true}')
    serve_forever(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
