"""The only way out for a headless browser: an HTTP proxy that puts every request through the URL guard.

Plain ``http://`` requests and ``CONNECT`` tunnels (https, wss) are checked with ``validate_url``;
the proxy then connects to the pinned address itself, so a rebinding name never gets a second
lookup. One request per client connection: a keep-alive socket could otherwise carry a second
request to another host past the check.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botsmith.errors import ProcessingError
from sources.scraping.urlsafety import AddressPolicy, Resolver, ValidatedURL, validate_url

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 30.0
MAX_CONNECTIONS = 64  # client connections served at once; more get a 503
CONNECTION_DEADLINE = 60.0  # absolute lifetime of one client connection or tunnel
MAX_CONNECTION_BYTES = 64 * 1024 * 1024  # bytes relayed over one connection or tunnel, both ways
# Chromium's own background services (updates, sign-in, time, safe browsing) that survive the launch flags:
# never page content, and not to be reached from a crawler's network.
BROWSER_SERVICE_HOSTS = frozenset({
    "accounts.google.com", "update.googleapis.com", "clients2.google.com", "clients1.google.com",
    "safebrowsing.googleapis.com", "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com",
    "redirector.gvt1.com", "edgedl.me.gvt1.com", "android.clients.google.com",
})  # fmt: skip
_HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te",
    "trailer", "upgrade", "transfer-encoding",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Refusal:
    target: str
    reason: str


@dataclass(slots=True)
class ProxyStats:
    allowed: int = 0
    refused: list[Refusal] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, target: str, reason: str, detail: str = "") -> None:
        """``reason`` is shown to users (crawl report, the page itself); ``detail`` only goes to the log."""
        with self.lock:
            if len(self.refused) < 1000:
                self.refused.append(Refusal(target, reason))
        logger.warning("render proxy refused %s: %s", target, detail or reason)

    def allow(self) -> None:
        with self.lock:
            self.allowed += 1


class _Refused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


_ADDRESS_IN_PARENS = re.compile(r"\s*\(([0-9A-Fa-f:.]+)\)")


def public_reason(message: str, host: str) -> str:
    """``message`` without a resolved address in it: an internal IP must not reach the crawl report or the
    page (a script could read the 403 body into the DOM). An address the URL itself names is kept."""

    def scrub(match: re.Match[str]) -> str:
        try:
            address = ipaddress.ip_address(match.group(1))
        except ValueError:
            return match.group(0)
        try:
            named = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            named = None
        return match.group(0) if address == named else ""

    return _ADDRESS_IN_PARENS.sub(scrub, message)


class GuardProxy:
    """A threaded proxy on 127.0.0.1:<ephemeral>; ``with GuardProxy(...) as proxy: proxy.port``."""

    def __init__(
        self,
        *,
        allow_private: bool,
        is_public: AddressPolicy | None = None,
        resolver: Resolver | None = None,
        blocked_paths: Callable[[dict[str, str]], str | None] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        connection_deadline: float = CONNECTION_DEADLINE,
        max_connection_bytes: int = MAX_CONNECTION_BYTES,
    ) -> None:
        self.allow_private = allow_private
        self.connection_deadline = connection_deadline
        self.max_connection_bytes = max_connection_bytes
        self.is_public = is_public
        self.resolver = resolver
        self.blocked_request = blocked_paths or _refuse_service_worker
        self.stats = ProxyStats()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._server.slots = threading.BoundedSemaphore(max(1, max_connections))
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="render-guard-proxy", daemon=True
        )

    def __enter__(self) -> GuardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def check(self, url: str) -> ValidatedURL:
        """Validate ``url`` as the static fetcher would; the proxy's own port is never a target."""
        if (urlsplit(url).hostname or "").rstrip(".").lower() in BROWSER_SERVICE_HOSTS:
            raise _Refused("a browser background service")  # before any DNS lookup
        try:
            target = validate_url(url, allow_private=self.allow_private, resolver=self.resolver,
                                  is_public=self.is_public)
        except ProcessingError as exc:
            raise _Refused(public_reason(exc.message, urlsplit(url).hostname or ""), exc.message) from None
        if target.port == self.port and any(ipaddress.ip_address(a).is_loopback for a in target.addresses):
            raise _Refused("the proxy's own address")
        return target


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: GuardProxy
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            logger.warning("render proxy: too many connections at once; one refused with 503")
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        logger.debug("render proxy: connection error", exc_info=True)


def _refuse_service_worker(headers: dict[str, str]) -> str | None:
    # Chromium marks the fetch of a service-worker script; refusing it makes registration fail.
    return "service worker script" if headers.get("service-worker", "").lower() == "script" else None


def _read_head(sock: socket.socket, budget: _Budget | None = None) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if budget is not None:
            timeout = budget.timeout()
            if timeout <= 0:
                raise ConnectionError("deadline passed")
            sock.settimeout(timeout)
        chunk = sock.recv(8192)
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
        if len(data) > MAX_HEAD_BYTES:
            raise _Refused("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _connect(target: ValidatedURL) -> socket.socket:
    last: OSError | None = None
    for address in target.addresses[:3]:
        try:
            return socket.create_connection((address, target.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            last = exc
    raise last or OSError("no address")


class _Budget:
    """What one client connection may still use: an absolute deadline and a byte count."""

    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.bytes_left = max_bytes

    def timeout(self) -> float:
        return max(min(IDLE_TIMEOUT, self.deadline - time.monotonic()), 0.0)

    def spend(self, count: int) -> bool:
        self.bytes_left -= count
        return self.bytes_left >= 0


def _pipe(a: socket.socket, b: socket.socket, budget: _Budget, *, one_way_from: socket.socket | None = None,
          limit: int | None = None) -> None:
    """Copy bytes both ways (or only from ``one_way_from``, at most ``limit``) until a side closes, stays
    idle, or the connection's deadline or byte budget runs out."""
    sockets = [one_way_from] if one_way_from is not None else [a, b]
    while limit is None or limit > 0:
        timeout = budget.timeout()
        if timeout <= 0:
            logger.info("render proxy: connection closed at its deadline")
            return
        readable, _, _ = select.select(sockets, [], [], timeout)
        if not readable:
            return
        for src in readable:
            dst = b if src is a else a
            data = src.recv(65536 if limit is None else min(65536, limit))
            if not data:
                return
            if not budget.spend(len(data)):
                logger.warning("render proxy: connection closed at its byte cap")
                return
            dst.sendall(data)
            if limit is not None:
                limit -= len(data)


def _response_head(head: bytes) -> tuple[bytes, int | None]:
    """The upstream's header block with ``Connection: close`` forced, and its body length when fixed.

    The client must not reuse the connection: a second response on it (smuggled by the server after the
    first) would otherwise be read as the answer to the browser's next request.
    """
    lines = head.decode("latin-1").split("\r\n")
    named = {token.strip().lower() for line in lines[1:] if line.partition(":")[0].strip().lower() == "connection"
             for token in line.partition(":")[2].split(",")}
    dropped = {"connection", "keep-alive", "proxy-connection"} | (named - {"close"})
    kept = [line for line in lines[1:] if line and line.partition(":")[0].strip().lower() not in dropped]
    names = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip() for line in kept}
    length = names.get("content-length", "")
    status = lines[0].split(" ", 2)[1] if len(lines[0].split(" ")) > 1 else ""
    fixed = (int(length) if length.isdigit() and "transfer-encoding" not in names else None)
    if status in ("204", "304"):
        fixed = 0
    rebuilt = "\r\n".join([lines[0], *kept, "Connection: close", "", ""])
    return rebuilt.encode("latin-1"), fixed


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        client = self.request
        client.settimeout(IDLE_TIMEOUT)
        self.budget = _Budget(proxy.connection_deadline, proxy.max_connection_bytes)
        try:
            head, rest = _read_head(client, self.budget)
        except (_Refused, OSError, ConnectionError):
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._deny(proxy, lines[0][:200], "malformed request line", status=400)
            return
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            if method.upper() == "CONNECT":
                self._tunnel(proxy, target, rest)
            else:
                self._forward(proxy, method, target, version, lines[1:], headers, rest)
        except _Refused as exc:
            self._deny(proxy, target[:300], str(exc), detail=exc.detail)
        except OSError as exc:
            self._reply(502, f"upstream failed: {exc}")

    def _deny(self, proxy: GuardProxy, target: str, reason: str, *, status: int = 403, detail: str = "") -> None:
        proxy.stats.refuse(target, reason, detail)
        self._reply(status, f"Refused by BotSmith: {reason}")

    def _reply(self, status: int, text: str) -> None:
        body = text.encode("utf-8", "replace")
        head = (f"HTTP/1.1 {status} {'Forbidden' if status == 403 else 'Error'}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        try:
            self.request.sendall(head.encode() + body)
        except OSError:
            pass

    def _tunnel(self, proxy: GuardProxy, authority: str, early: bytes) -> None:
        host, sep, port = authority.rpartition(":")
        if not sep or not port.isdigit():
            raise _Refused("CONNECT needs host:port")
        # The scheme only picks the default port; CONNECT always names one.
        checked = proxy.check(f"https://{host}:{port}/")
        upstream = _connect(checked)
        proxy.stats.allow()
        with upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if early:  # bytes the client sent before reading our answer (a TLS hello, say)
                upstream.sendall(early)
            _pipe(self.request, upstream, self.budget)

    def _forward(self, proxy: GuardProxy, method: str, url: str, version: str, raw_headers: list[str],
                 headers: dict[str, str], rest: bytes) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "http":
            # https and wss arrive as CONNECT; anything else (ftp:, file:, origin-form) is not proxied.
            raise _Refused(f"scheme {parts.scheme or '(none)'} is not allowed")
        if "transfer-encoding" in headers:
            raise _Refused("chunked request bodies are not supported")
        checked = proxy.check(url)
        blocked = proxy.blocked_request(headers)
        if blocked:
            raise _Refused(blocked)
        length = int(headers.get("content-length", "0") or 0) if headers.get("content-length", "0").isdigit() else 0
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [line for line in raw_headers
                if line and line.partition(":")[0].strip().lower() not in _HOP_BY_HOP | {"host"}]
        head = "\r\n".join([f"{method} {path} {version}", f"Host: {checked.host_header}", *kept,
                            "Connection: close", "", ""])
        upstream = _connect(checked)
        proxy.stats.allow()
        with upstream:
            upstream.settimeout(IDLE_TIMEOUT)
            upstream.sendall(head.encode("latin-1"))
            body = rest[:length]
            remaining = length - len(body)
            if body:
                upstream.sendall(body)
            while remaining > 0:
                chunk = self.request.recv(min(65536, remaining))
                if not chunk:
                    break
                upstream.sendall(chunk)
                remaining -= len(chunk)
            # Only the answer flows now, with Connection: close: the client's next request needs a new connection.
            try:
                response, body_start = _read_head(upstream, self.budget)
            except _Refused:
                self._reply(502, "upstream response head too large")
                return
            except ConnectionError:
                return
            rebuilt, body_length = _response_head(response)
            if method.upper() == "HEAD":
                body_length = 0
            body_start = body_start if body_length is None else body_start[:body_length]
            if not self.budget.spend(len(rebuilt) + len(body_start)):
                return
            self.request.sendall(rebuilt + body_start)
            left = None if body_length is None else body_length - len(body_start)
            if left is None or left > 0:
                _pipe(self.request, upstream, self.budget, one_way_from=upstream, limit=left)
