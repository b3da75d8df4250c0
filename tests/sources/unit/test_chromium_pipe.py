"""The DevTools pipe reader: messages split on NUL, an oversized message kills the browser, events stay small."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from sources.scraping.chromium import Browser, BrowserGone, CdpMessageTooLarge


@pytest.fixture
def browser():
    """A Browser whose 'Chromium' is a real process group (sleep) and whose DevTools pipe we write to."""
    resp_read, resp_write = os.pipe()
    cmd_read, cmd_write = os.pipe()
    b = Browser("/bin/false", proxy_port=1, max_memory_bytes=1 << 30, max_message_bytes=256 * 1024)
    b.proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    b._resp_read, b._cmd_write = resp_read, cmd_write
    yield b, resp_write, cmd_read
    b.close()
    for fd in (resp_write, cmd_read):
        try:
            os.close(fd)
        except OSError:
            pass


def _writer(fd: int, data: bytes) -> threading.Thread:
    def write() -> None:
        try:
            os.write(fd, data) if len(data) < 4096 else _write_all(fd, data)
        except OSError:
            pass  # the reader stopped and closed its end

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:65536]):]


def test_messages_and_events_are_read_and_events_keep_only_what_the_settle_loop_uses(browser):
    b, resp_write, cmd_read = browser
    event = {"method": "Network.requestWillBeSent", "sessionId": "S",
             "params": {"requestId": "r1", "type": "XHR", "request": {"postData": "x" * 100_000}}}
    reply = {"id": 1, "result": {"product": "Chrome"}}
    _writer(resp_write, json.dumps(event).encode() + b"\0" + json.dumps(reply).encode() + b"\0")

    assert b.call("Browser.getVersion", timeout=10) == {"product": "Chrome"}
    assert b.events(0) == [{"method": "Network.requestWillBeSent", "sessionId": "S",
                            "params": {"requestId": "r1", "type": "XHR"}}]


def test_an_oversized_message_kills_the_browser_and_raises_a_clear_error(browser):
    b, resp_write, cmd_read = browser
    writer = _writer(resp_write, b'{"id": 1, "result": {"value": "' + b"x" * (2 << 20))

    with pytest.raises(CdpMessageTooLarge, match="browser was stopped"):
        b.call("Runtime.evaluate", timeout=30)
    assert isinstance(CdpMessageTooLarge("x"), BrowserGone)  # ends the page like a crash does
    assert b.proc is not None and b.proc.wait(timeout=20) == -9  # the browser's group was killed
    assert len(b._buffer) == 0
    os.close(b._resp_read)
    b._resp_read = -1
    writer.join(timeout=20)
    assert not writer.is_alive()
