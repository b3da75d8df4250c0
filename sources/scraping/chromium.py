"""A headless Chromium process driven over the DevTools pipe, with its group killed on every exit path."""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from botsmith.errors import ErrorCode, ProcessingError

logger = logging.getLogger(__name__)
GUARDIAN = Path(__file__).with_name("chromium_guardian.py")
INSTALL_HINT = "install the Debian package `chromium` (apt-get install chromium) on the worker"


class BrowserGone(Exception):
    """The browser exited or stopped answering (crash, memory watchdog, kill)."""


class CdpMessageTooLarge(BrowserGone):
    """A DevTools message grew past the cap (a page returning a huge value, say); the browser was killed."""


class CdpTimeout(Exception):
    """A DevTools command got no answer in time (a renderer stuck in a script, say)."""


def find_chromium(path: str) -> str | None:
    found = shutil.which(path)
    return found if found and os.access(found, os.X_OK) else None


_warned_root = threading.Event()


def sandbox_flags() -> list[str]:
    """Chromium's sandbox stays on, except as root, where Chromium refuses to start with it."""
    if os.geteuid() != 0:
        return []
    if not _warned_root.is_set():
        _warned_root.set()
        logger.warning("The worker runs as root: Chromium runs WITHOUT its sandbox (--no-sandbox). "
                       "Run workers as a non-root user to keep the sandbox on.")
    return ["--no-sandbox"]


def chromium_flags(profile: Path, proxy_port: int) -> list[str]:
    """Every network path goes to the guard proxy; nothing persists, nothing asks the user."""
    return [
        "--headless", *sandbox_flags(), "--disable-gpu", "--disable-quic", "--no-first-run",
        "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
        "--disable-dev-shm-usage", "--deny-permission-prompts", "--disable-notifications",
        "--disable-component-extensions-with-background-pages", "--disable-breakpad", "--no-pings",
        "--disable-client-side-phishing-detection", "--disable-domain-reliability", "--metrics-recording-only",
        "--disable-features=DnsOverHttps,AsyncDns,MediaRouter,OptimizationHints,Translate,"
        "NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,OptimizationGuideModelDownloading,"
        "AutofillServerCommunication,InterestFeedContentSuggestions,SignInProfileCreation",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",
        # Chromium never resolves a name itself: with a proxy it has no reason to, and this makes sure.
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
        f"--user-data-dir={profile}", f"--disk-cache-dir={profile / 'cache'}",
        "--disk-cache-size=33554432", "--remote-debugging-pipe", "--log-level=3", "about:blank",
    ]  # fmt: skip


def group_rss_bytes(pgid: int) -> int:
    """Proportional memory (PSS) of every process in the group: the browser, zygotes, renderers.

    PSS, not RSS: Chromium's processes share most of their pages, and summing RSS counts them
    once per process (about 2.5x too much for a fresh browser).
    """
    total = 0
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group, read from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()  # after "(comm)": state ppid pgrp ...
                if int(fields[2]) == pgid and fields[0] != b"Z":
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


_EVENT_PARAMS = ("requestId", "type")


def _slim(event: dict[str, Any]) -> dict[str, Any]:
    """Only what the settle loop reads: queued events stay small whatever the page sends."""
    params = event.get("params") or {}
    kept = {key: params[key] for key in _EVENT_PARAMS if isinstance(params.get(key), str)}
    return {"method": event.get("method"), "sessionId": event.get("sessionId"), "params": kept}


class Browser:
    """One Chromium with a fresh profile, reachable only through ``--remote-debugging-pipe``.

    ``close()`` kills the process group; the guardian kills it too if this process dies, and a
    watchdog thread kills it when the group's RSS passes ``max_memory_bytes``.
    """

    def __init__(self, executable: str, *, proxy_port: int, max_memory_bytes: int, lang: str = "en_US.UTF-8",
                 max_message_bytes: int = 64 << 20) -> None:
        self.executable = executable
        self.max_message_bytes = max_message_bytes
        self.proxy_port = proxy_port
        self.max_memory_bytes = max_memory_bytes
        self.lang = lang
        self.profile = Path(tempfile.mkdtemp(prefix="botsmith-chromium-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self.killed_for_memory = False
        self._buffer = bytearray()  # unfinished DevTools messages, capped at max_message_bytes
        self._events: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._next_id = 0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._cmd_write = -1
        self._resp_read = -1

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 20.0) -> Browser:
        cmd_read, self._cmd_write = os.pipe()
        self._resp_read, resp_write = os.pipe()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.profile), "LANG": self.lang,
               "TMPDIR": str(self.profile)}
        argv = [sys.executable, "-I", "-S", str(GUARDIAN), str(os.getpid()), str(cmd_read), str(resp_write),
                str(self.profile), "--",
                self.executable, *chromium_flags(self.profile, self.proxy_port)]
        log = open(self.profile / "chromium.log", "wb")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(cmd_read, resp_write),
                start_new_session=True, cwd=self.profile,
            )
        except OSError as exc:
            self.close()
            raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE,
                                  f"Chromium could not be started ({exc}); {INSTALL_HINT}.") from None
        finally:
            log.close()
            os.close(cmd_read)
            os.close(resp_write)
        self._watchdog = threading.Thread(target=self._watch_memory, name="chromium-watchdog", daemon=True)
        self._watchdog.start()
        try:
            self.call("Browser.getVersion", timeout=timeout)
            self.call("Browser.setDownloadBehavior", {"behavior": "deny"}, timeout=timeout)
        except (BrowserGone, CdpTimeout) as exc:
            tail = self.log_tail()
            self.close()
            if self.killed_for_memory:
                raise ProcessingError(ErrorCode.TOO_LARGE, "The browser needed more memory than its ceiling "
                                      f"({self.max_memory_bytes >> 20} MB) just to start.") from None
            raise ProcessingError(ErrorCode.RENDERER_UNAVAILABLE,
                                  f"Chromium did not start ({exc}); {INSTALL_HINT}. {tail}".strip()) from None
        return self

    def log_tail(self) -> str:
        try:
            return (self.profile / "chromium.log").read_text(errors="replace")[-400:]
        except OSError:
            return ""

    def _watch_memory(self) -> None:
        while not self._stop.wait(0.25):
            pgid = self.pgid
            if pgid is None:
                return
            rss = group_rss_bytes(pgid)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.max_memory_bytes:
                self.killed_for_memory = True
                self.kill()
                return

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.killed_for_memory

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 10.0) -> dict[str, Any]:
        """Send one command and wait for its answer; events seen meanwhile are queued for ``events()``."""
        if self.proc is None or self._cmd_write < 0:
            raise BrowserGone("not started")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserGone(f"pipe closed: {exc}") from None
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == message["id"]:
                    if "error" in reply:
                        raise BrowserGone(f"{method}: {reply['error'].get('message')}")
                    result: dict[str, Any] = reply.get("result", {})
                    return result
                if "method" in reply:
                    self._events.append(_slim(reply))
            if time.monotonic() >= deadline:
                raise CdpTimeout(f"{method} got no answer within {timeout:g}s")

    def events(self, wait: float) -> list[dict[str, Any]]:
        """Events received so far, waiting up to ``wait`` seconds for the first one."""
        if not self._events:
            for message in self._read(time.monotonic() + wait):
                if "method" in message:
                    self._events.append(_slim(message))
        drained = list(self._events)
        self._events.clear()
        return drained

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        end = self._buffer.rfind(b"\0")
        while end < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            readable, _, _ = select.select([self._resp_read], [], [], remaining)
            if not readable:
                return []
            chunk = os.read(self._resp_read, 1 << 20)
            if not chunk:
                raise BrowserGone("Chromium exited" + (" (memory ceiling)" if self.killed_for_memory else ""))
            self._buffer += chunk
            last = chunk.rfind(b"\0")
            if last >= 0:
                end = len(self._buffer) - len(chunk) + last
            elif len(self._buffer) > self.max_message_bytes:
                self._buffer = bytearray()
                self.kill()
                raise CdpMessageTooLarge(f"a DevTools message passed {self.max_message_bytes >> 20} MB; "
                                         "the browser was stopped")
        complete = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return [json.loads(raw) for raw in complete.split(b"\0") if raw]

    def kill(self) -> None:
        pgid = self.pgid
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        """Kill the whole group, reap the guardian, remove the profile. Safe to call twice."""
        self._stop.set()
        self.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            # SIGKILL is delivered asynchronously: wait until no member of the group is left running.
            deadline = time.monotonic() + 10
            while group_pids(self.proc.pid) and time.monotonic() < deadline:
                self.kill()
                time.sleep(0.05)
        for fd in (self._cmd_write, self._resp_read):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._cmd_write = self._resp_read = -1
        shutil.rmtree(self.profile, ignore_errors=True)
