"""Runs a format extractor in a child process with memory and CPU ceilings, streaming its segments back.

Why a child process: a hostile file (decompression bomb, pathological page tree) must cost at most
that process, never the Celery worker. The child is killed on cancel, on the soft time limit, and
when its parent dies (PR_SET_PDEATHSIG), so nothing is left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment

logger = logging.getLogger(__name__)
BASE_DIR = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1
# A child that died on a signal after using this share of its memory ceiling ran out of memory:
# native parsers (pdfium) abort on a failed allocation instead of raising MemoryError.
OUT_OF_MEMORY_SHARE = 0.75
STDERR_TAIL_CHARS = 4000


@dataclass(frozen=True)
class SandboxLimits:
    memory_mb: int = 1024
    cpu_seconds: int = 1200


@dataclass
class StatsUpdate:
    stats: ExtractionStats


def _limit_child(limits: SandboxLimits) -> None:  # pragma: no cover - runs in the child
    """preexec_fn: resource ceilings, and die with the parent."""
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _stats_from(data: dict[str, Any]) -> ExtractionStats:
    stats = ExtractionStats()
    for key, value in data.items():
        if hasattr(stats, key):
            setattr(stats, key, value)
    return stats


class ExtractionProcess:
    """Iterate ``Segment`` and ``StatsUpdate`` items; raises ``ProcessingError`` on bad input.

    Use as a context manager so the child is always reaped: ``with ExtractionProcess(...) as p: for item in p``.
    """

    def __init__(self, *, kind: str, path: str, filename: str, limits: ExtractionLimits,
                 sandbox: SandboxLimits) -> None:
        self.kind = kind
        self.path = path
        self.filename = filename
        self.limits = limits
        self.sandbox = sandbox
        self.stats = ExtractionStats()
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_tail = ""
        self._stderr_reader: threading.Thread | None = None

    def __enter__(self) -> ExtractionProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sources.extraction_child"],
            cwd=BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1024 * 1024,
            env={**os.environ, "BOTSMITH_SKIP_CELERY_APP": "1"},
            preexec_fn=lambda: _limit_child(self.sandbox),
        )
        assert self._proc.stdin is not None
        # stderr is drained all along: a child that logs more than a pipe buffer (a warning per
        # broken page) would otherwise block on write while we wait for its stdout: a deadlock.
        self._stderr_reader = threading.Thread(target=self._drain_stderr, name="extraction-stderr", daemon=True)
        self._stderr_reader.start()
        request = {"kind": self.kind, "path": self.path, "filename": self.filename, "limits": asdict(self.limits)}
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.close()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _drain_stderr(self) -> None:
        """Keep only the end of the child's stderr: enough for the log and the MemoryError check."""
        stream = self._proc.stderr if self._proc is not None else None
        if stream is None:
            return
        with contextlib.suppress(OSError, ValueError):
            for block in iter(lambda: stream.read(64 * 1024), ""):
                self._stderr_tail = (self._stderr_tail + block)[-STDERR_TAIL_CHARS:]

    def _stderr_text(self) -> str:
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=5)
        return self._stderr_tail

    def kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __iter__(self) -> Iterator[Segment | StatsUpdate]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        finished = False
        for line in proc.stdout:
            message = json.loads(line)
            kind = message["t"]
            if kind == "seg":
                yield Segment(message["text"], message["m"], message["b"])
            elif kind == "stats":
                self.stats = _stats_from(message["stats"])
                yield StatsUpdate(self.stats)
            elif kind == "error":
                self.stats = _stats_from(message.get("stats") or {})
                raise ProcessingError(message["code"], message["message"])
            elif kind == "done":
                self.stats = _stats_from(message["stats"])
                finished = True
        returncode, peak_rss = self._reap()
        if not finished:
            raise self._crash_error(returncode, peak_rss)

    def _reap(self) -> tuple[int, int]:
        """Wait for the child; return its exit code and peak resident memory in bytes (0 if unknown)."""
        proc = self._proc
        assert proc is not None
        if proc.returncode is None:
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass  # already reaped elsewhere; Popen knows the exit code
            else:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, usage.ru_maxrss * 1024  # Linux reports KiB
        return proc.wait(), 0

    def _crash_error(self, returncode: int, peak_rss: int = 0) -> ProcessingError:
        stderr = self._stderr_text()[-2000:]
        logger.warning("extraction child for %s exited with %s (peak RSS %d MB): %s", self.filename, returncode,
                       peak_rss // (1024 * 1024), stderr)
        out_of_memory = returncode < 0 and peak_rss >= OUT_OF_MEMORY_SHARE * self.sandbox.memory_mb * 1024 * 1024
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL) or "MemoryError" in stderr or out_of_memory:
            return ProcessingError(
                ErrorCode.TOO_LARGE,
                "Reading this file needed more memory or time than allowed; it may be a decompression bomb "
                "or far larger inside than it looks.",
            )
        return ProcessingError(ErrorCode.CORRUPT, "This file could not be read; it may be damaged.")
