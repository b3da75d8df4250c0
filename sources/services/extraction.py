"""Runs a format extractor in a child process with memory and CPU ceilings, streaming its output back.

Why a child process: a hostile file (decompression bomb, pathological page tree) must cost at most
that process, never the Celery worker. The child is killed on cancel, on the soft time limit, and
when its parent dies (PR_SET_PDEATHSIG), so nothing is left running.

By default the child is forked from a warm template (``sources.extraction_template``: engines
imported once, a fresh fork per document); ``warm=False`` starts a new interpreter instead. With
``chunking=(size, overlap)`` the child also cleans and chunks, and ships ``ChunkBatch`` items: that
work then runs on another core while this process stores the previous batch. A reader thread
drains the child's stdout into a bounded queue, so the child keeps working while we insert.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.chunking import ChunkDraft
from sources.extraction_template import limit_process
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment
from sources.services import warm_template

logger = logging.getLogger(__name__)
# A child that died on a signal after using this share of its memory ceiling ran out of memory:
# native parsers (pdfium) abort on a failed allocation instead of raising MemoryError.
OUT_OF_MEMORY_SHARE = 0.75
STDERR_TAIL_CHARS = 4000
# Lines of child output held between the reader thread and the consumer (a chunk batch line is
# ~200 kB; 16 lines are more than one insert batch), so a slow database cannot make the parent
# buffer a whole document.
QUEUE_LINES = 16


@dataclass(frozen=True)
class SandboxLimits:
    memory_mb: int = 1024
    cpu_seconds: int = 1200


@dataclass
class StatsUpdate:
    stats: ExtractionStats


@dataclass
class ChunkBatch:
    drafts: list[ChunkDraft]


def _stats_from(data: dict[str, Any]) -> ExtractionStats:
    stats = ExtractionStats()
    for key, value in data.items():
        if hasattr(stats, key):
            setattr(stats, key, value)
    return stats


class ExtractionProcess:
    """Iterate ``Segment`` (or ``ChunkBatch``) and ``StatsUpdate`` items; raises ``ProcessingError`` on bad input.

    Use as a context manager so the child is always reaped: ``with ExtractionProcess(...) as p: for item in p``.
    """

    def __init__(self, *, kind: str, path: str, filename: str, limits: ExtractionLimits,
                 sandbox: SandboxLimits, chunking: tuple[int, int] | None = None, warm: bool = True) -> None:
        self.kind = kind
        self.path = path
        self.filename = filename
        self.limits = limits
        self.sandbox = sandbox
        self.chunking = chunking
        self.warm = warm
        self.stats = ExtractionStats()
        self.pid: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._template: warm_template.Template | None = None
        self._exit: tuple[int, int] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue(QUEUE_LINES)
        self._stop = threading.Event()
        self._stderr_tail = ""
        self._threads: list[threading.Thread] = []

    def _request(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "filename": self.filename, "limits": asdict(self.limits),
                "chunking": list(self.chunking) if self.chunking else None, "sandbox": asdict(self.sandbox)}

    def __enter__(self) -> ExtractionProcess:
        if not (self.warm and self._start_warm()):
            self._start_cold()
        # stderr is drained all along: a child that logs more than a pipe buffer (a warning per
        # broken page) would otherwise block on write while we wait for its stdout: a deadlock.
        for target, name in ((self._drain_stdout, "extraction-stdout"), (self._drain_stderr, "extraction-stderr")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _start_warm(self) -> bool:
        """Fork the child from the template; False when it is busy (another thread) or cannot start."""
        lock = warm_template.lock()
        if not lock.acquire(blocking=False):
            return False  # a nested or concurrent extraction in this process: a cold child instead
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            try:
                self.pid = warm_template.acquire().start_child(self._request(), out_w, err_w)
            except warm_template.TemplateUnavailable:
                warm_template.discard()  # one retry on a fresh template: the old one may have died idle
                self.pid = warm_template.acquire().start_child(self._request(), out_w, err_w)
            self._template = warm_template.acquire()
        except warm_template.TemplateUnavailable:
            logger.warning("extraction template unavailable; starting a fresh interpreter", exc_info=True)
            warm_template.discard()
            lock.release()
            os.close(out_r)
            os.close(err_r)
            return False
        except BaseException:
            lock.release()
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)  # the child holds its own copies; EOF comes when it exits
            os.close(err_w)
        self._stdout = os.fdopen(out_r, "rb", buffering=1024 * 1024)
        self._stderr = os.fdopen(err_r, "rb", buffering=0)
        return True

    def _start_cold(self) -> None:
        sandbox = self.sandbox
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "sources.extraction_child"],
            cwd=warm_template.BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            bufsize=1024 * 1024, env=warm_template.child_environment(),
            preexec_fn=lambda: limit_process(sandbox.memory_mb, sandbox.cpu_seconds),
        )
        self.pid = self._popen.pid
        self._stdout, self._stderr = self._popen.stdout, self._popen.stderr
        assert self._popen.stdin is not None
        self._popen.stdin.write(json.dumps(self._request()).encode() + b"\n")
        self._popen.stdin.close()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _drain_stdout(self) -> None:
        stream = self._stdout
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                while not self._stop.is_set():
                    try:
                        self._lines.put(line, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        with contextlib.suppress(queue.Full):
            self._lines.put(None, timeout=5)

    def _drain_stderr(self) -> None:
        """Keep only the end of the child's stderr: enough for the log and the MemoryError check."""
        stream = self._stderr
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            for block in iter(lambda: stream.read(64 * 1024), b""):
                self._stderr_tail = (self._stderr_tail + block.decode("utf-8", "replace"))[-STDERR_TAIL_CHARS:]

    def _stderr_text(self) -> str:
        if len(self._threads) > 1:
            self._threads[1].join(timeout=5)
        return self._stderr_tail

    def kill(self) -> None:
        if self.pid is None:
            return
        if self._exit is None:
            if self._popen is not None and self._popen.poll() is None:
                self._popen.kill()
            elif self._template is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)  # not yet reaped by the template: still our child
            self._reap()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __iter__(self) -> Iterator[Segment | ChunkBatch | StatsUpdate]:
        finished = False
        while (line := self._lines.get()) is not None:
            message = json.loads(line)
            kind = message["t"]
            if kind == "chunks":
                yield ChunkBatch([ChunkDraft(text, meta) for text, meta in message["c"]])
            elif kind == "seg":
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
        if self._exit is not None:
            return self._exit
        if self._template is not None:
            try:
                self._exit = self._template.reap()
            finally:
                self._template = None
                warm_template.lock().release()
            if self._exit == (-9, 0):
                warm_template.discard()
            return self._exit
        proc = self._popen
        assert proc is not None
        self._exit = (proc.returncode, 0) if proc.returncode is not None else None
        if self._exit is None:
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except ChildProcessError:
                self._exit = (proc.wait(), 0)  # already reaped elsewhere; Popen knows the exit code
            else:
                proc.returncode = os.waitstatus_to_exitcode(status)
                self._exit = (proc.returncode, usage.ru_maxrss * 1024)  # Linux reports KiB
        return self._exit

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
