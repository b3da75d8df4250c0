"""The browser's guard proxy: every request checked, pinned to the checked address, refusals counted."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sources.scraping.guard_proxy import GuardProxy
from sources.scraping.urlsafety import IPAddress, is_public_address
from tests.fixtures.http_server import TestSite, serve_test_site
from tests.fixtures.spa_site import Listener, serve_listener

ALLOWED = ipaddress.ip_network("127.0.0.2/32")


def only_test_site(ip: IPAddress) -> bool:
    return ip in ALLOWED or is_public_address(ip)


def send(proxy: GuardProxy, head: str, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def timed_get(proxy, port: int, headers: str = "", timeout: float = 30) -> tuple[bytes, float]:
    """A GET of the raw upstream on 127.0.0.2 through the proxy: the reply and how long it took."""
    started = time.monotonic()
    reply = send(proxy, f"GET http://127.0.0.2:{port}/ HTTP/1.1\r\n{headers}\r\n", timeout=timeout)
    return reply, time.monotonic() - started


@pytest.fixture
def site() -> Iterator[TestSite]:
    with serve_test_site(host="127.0.0.2") as served:
        yield served


@pytest.fixture
def same_port_listener(site: TestSite) -> Iterator[Listener]:
    """A loopback listener on 127.0.0.1 at the site's own port: where a rebinding name would lead."""
    with serve_listener(port=site.port) as listener:
        yield listener


def test_rebinding_name_is_pinned_to_the_checked_address_and_refused_on_the_next_lookup(site, same_port_listener):
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding_resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    with GuardProxy(allow_private=False, is_public=only_test_site, resolver=rebinding_resolver) as proxy:
        first = send(proxy, f"GET http://rebind.test:{site.port}/about HTTP/1.1\r\nHost: rebind.test\r\n\r\n")
        second = send(proxy, f"GET http://rebind.test:{site.port}/about HTTP/1.1\r\nHost: rebind.test\r\n\r\n")

    assert first.startswith(b"HTTP/1.1 200") and b"founded in 1999" in first
    assert site.requests_seen == ["/about"]  # the checked address, with the site's own Host header
    assert site.requests[0].headers["host"] == f"rebind.test:{site.port}"
    assert second.startswith(b"HTTP/1.1 403") and b"private or internal network" in second
    assert b"127.0.0.1" not in second  # the resolved internal address is not shown to the page
    assert lookups == ["rebind.test", "rebind.test"]  # one lookup per request, none between check and use
    assert same_port_listener.connections == 0
    assert [r.target for r in proxy.stats.refused] == [f"http://rebind.test:{site.port}/about"]
    assert "127.0.0.1" not in proxy.stats.refused[0].reason  # what the crawl report shows


def test_refusal_reasons_keep_an_address_the_url_names_and_the_log_keeps_the_resolved_one(caplog):
    with GuardProxy(allow_private=False, is_public=only_test_site,
                    resolver=lambda host, port: ["10.1.2.3"]) as proxy:
        named = send(proxy, "GET http://169.254.169.254/latest/ HTTP/1.1\r\n\r\n")
        resolved = send(proxy, "GET http://internal.test/ HTTP/1.1\r\n\r\n")

    assert b"169.254.169.254" in named  # the page asked for it by address: nothing is revealed
    assert b"10.1.2.3" not in resolved
    reasons = {r.target: r.reason for r in proxy.stats.refused}
    assert "10.1.2.3" not in reasons["http://internal.test/"]
    assert "private or internal network" in reasons["http://internal.test/"]
    assert any("10.1.2.3" in record.getMessage() for record in caplog.records)  # server-side detail


def test_a_name_with_one_private_answer_among_allowed_ones_is_refused(site, same_port_listener):
    with GuardProxy(allow_private=False, is_public=only_test_site,
                    resolver=lambda host, port: ["127.0.0.2", "127.0.0.1"]) as proxy:
        reply = send(proxy, f"GET http://mixed.test:{site.port}/ HTTP/1.1\r\nHost: mixed.test\r\n\r\n")
        tunnel = send(proxy, f"CONNECT mixed.test:{site.port} HTTP/1.1\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 403") and tunnel.startswith(b"HTTP/1.1 403")
    assert site.requests_seen == [] and same_port_listener.connections == 0
    assert len(proxy.stats.refused) == 2


@pytest.mark.parametrize("head", [
    "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n",
    "CONNECT 169.254.169.254:443 HTTP/1.1\r\n\r\n",
    "GET http://[::ffff:127.0.0.1]:{listener}/ HTTP/1.1\r\n\r\n",
    "CONNECT 127.0.0.1:{listener} HTTP/1.1\r\n\r\n",
    "GET http://127.0.0.1:{listener}/ HTTP/1.1\r\n\r\n",
    "GET ftp://127.0.0.2/file HTTP/1.1\r\n\r\n",
    "GET file:///etc/passwd HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:{listener}\r\n\r\n",
    "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
], ids=["metadata", "metadata-connect", "mapped-v6", "loopback-connect", "loopback", "ftp", "file", "origin-form",
        "connect-no-port"])
def test_private_targets_and_other_schemes_are_refused(head):
    with serve_listener() as listener, GuardProxy(allow_private=False, is_public=only_test_site) as proxy:
        reply = send(proxy, head.format(listener=listener.port))

    assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
    assert listener.connections == 0
    assert len(proxy.stats.refused) == 1 and proxy.stats.allowed == 0


def test_the_proxy_refuses_its_own_port_even_when_private_networks_are_allowed():
    with GuardProxy(allow_private=True) as proxy:
        reply = send(proxy, f"GET http://127.0.0.1:{proxy.port}/ HTTP/1.1\r\n\r\n")
        tunnel = send(proxy, f"CONNECT 127.0.0.1:{proxy.port} HTTP/1.1\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 403") and tunnel.startswith(b"HTTP/1.1 403")
    assert {r.reason for r in proxy.stats.refused} == {"the proxy's own address"}


def test_service_worker_scripts_are_refused(site):
    with GuardProxy(allow_private=False, is_public=only_test_site) as proxy:
        reply = send(proxy, f"GET {site.url('/about')} HTTP/1.1\r\nService-Worker: script\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 403") and site.requests_seen == []


def test_allowed_request_and_tunnel_reach_the_site_and_only_one_request_per_connection(site):
    with GuardProxy(allow_private=False, is_public=only_test_site) as proxy:
        # A second request pipelined on the same connection must not ride along unchecked.
        reply = send(proxy, f"GET {site.url('/about')} HTTP/1.1\r\n\r\n"
                            "GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n")
        tunnelled = send(proxy, f"CONNECT 127.0.0.2:{site.port} HTTP/1.1\r\n\r\n"
                                f"GET /latin1 HTTP/1.1\r\nHost: 127.0.0.2\r\nConnection: close\r\n\r\n")

    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"HTTP/1.1 ") == 1
    assert tunnelled.startswith(b"HTTP/1.1 200 Connection established") and b"Menu" in tunnelled
    assert site.requests_seen == ["/about", "/latin1"]
    assert proxy.stats.allowed == 2 and proxy.stats.refused == []


def test_browser_background_services_are_refused_before_any_lookup():
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["8.8.8.8"]

    with GuardProxy(allow_private=False, resolver=resolver) as proxy:
        tunnel = send(proxy, "CONNECT accounts.google.com:443 HTTP/1.1\r\n\r\n")
        plain = send(proxy, "GET http://update.googleapis.com/service/update2/json HTTP/1.1\r\n\r\n")

    assert tunnel.startswith(b"HTTP/1.1 403") and plain.startswith(b"HTTP/1.1 403")
    assert lookups == [] and {r.reason for r in proxy.stats.refused} == {"a browser background service"}


class RawUpstream:
    """A raw TCP server on 127.0.0.2 that answers every connection with ``payload`` and holds it open."""

    def __init__(self, payload: bytes, *, hold: float = 20.0) -> None:
        self.payload = payload
        self.hold = hold
        self.sock = socket.create_server(("127.0.0.2", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(self.hold)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                conn.sendall(self.payload)
                while conn.recv(65536):  # until the proxy closes or the hold runs out
                    pass
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_upstream(request) -> Iterator[RawUpstream]:
    server = RawUpstream(request.param)
    yield server
    server.close()


SMUGGLED = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\nfirst"
            b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")


@pytest.mark.parametrize("raw_upstream", [SMUGGLED], indirect=True)
def test_the_response_is_forced_to_close_and_a_second_response_never_reaches_the_client(raw_upstream):
    with GuardProxy(allow_private=False, is_public=only_test_site) as proxy:
        reply, elapsed = timed_get(proxy, raw_upstream.port, "Host: x\r\n", timeout=15)

    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0].startswith("http/1.1 200") and "connection: close" in lines
    assert not [line for line in lines if line.startswith("keep-alive") or line == "connection: keep-alive"]
    assert body == b"first" and b"SMUGGLED" not in reply
    assert elapsed < raw_upstream.hold  # closed after the body, not when the upstream gave up


@pytest.mark.parametrize("raw_upstream", [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"], indirect=True)
def test_a_connection_ends_at_its_absolute_deadline_even_while_the_upstream_stays_open(raw_upstream):
    with GuardProxy(allow_private=False, is_public=only_test_site, connection_deadline=1.0) as proxy:
        reply, elapsed = timed_get(proxy, raw_upstream.port)

    assert reply.startswith(b"HTTP/1.1 200")  # head passed, the promised byte never came
    assert elapsed < raw_upstream.hold / 2  # the proxy hung up at its deadline, well before the idle timeout


@pytest.mark.parametrize("raw_upstream", [b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 300_000], indirect=True)
def test_a_connection_stops_relaying_at_its_byte_cap(raw_upstream):
    with GuardProxy(allow_private=False, is_public=only_test_site, max_connection_bytes=100_000) as proxy:
        reply = send(proxy, f"GET http://127.0.0.2:{raw_upstream.port}/ HTTP/1.1\r\n\r\n", timeout=30)
        tunnel = send(proxy, f"CONNECT 127.0.0.2:{raw_upstream.port} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                      timeout=30)

    assert reply.startswith(b"HTTP/1.1 200") and len(reply) <= 100_000
    assert tunnel.startswith(b"HTTP/1.1 200 Connection established") and len(tunnel) <= 100_100


def test_connections_past_the_limit_get_a_503_and_a_freed_slot_is_reused(site):
    with GuardProxy(allow_private=False, is_public=only_test_site, max_connections=2) as proxy:
        held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(2)]
        try:
            deadline = time.monotonic() + 20
            reply = b""
            while time.monotonic() < deadline:  # both held connections must be accepted first
                reply = send(proxy, f"GET {site.url('/about')} HTTP/1.1\r\n\r\n")
                if reply.startswith(b"HTTP/1.1 503"):
                    break
                time.sleep(0.05)
            assert reply.startswith(b"HTTP/1.1 503"), reply[:100]
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = send(proxy, f"GET {site.url('/about')} HTTP/1.1\r\n\r\n")
            if reply.startswith(b"HTTP/1.1 200"):
                break
            time.sleep(0.05)
    assert reply.startswith(b"HTTP/1.1 200") and b"founded in 1999" in reply


@pytest.mark.parametrize("raw_upstream", [b"HTTP/1.1 200 OK\r\n"], indirect=True)
def test_an_upstream_that_never_finishes_its_head_is_dropped_at_the_deadline(raw_upstream):
    with GuardProxy(allow_private=False, is_public=only_test_site, connection_deadline=1.0) as proxy:
        reply, elapsed = timed_get(proxy, raw_upstream.port)

    assert not reply.startswith(b"HTTP/1.1 200")
    assert elapsed < raw_upstream.hold / 2  # not the 30 s idle timeout, nor the upstream's 20 s hold
