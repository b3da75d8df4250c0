"""SafeFetcher against the real local site: pinning, redirects, conditional GETs and hostile servers."""

from __future__ import annotations

import ipaddress
import socket
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping import DEFAULT_USER_AGENT, SafeFetcher
from sources.scraping.fetch import SUPPORTED_TYPES, PinnedAddressAdapter, classify_content
from sources.scraping.urlsafety import is_public_address
from tests.fixtures.http_server import TestSite


def _test_server_counts_as_public(ip) -> bool:
    """Pretend 127.0.0.1 (the test site) is a public web server; every other address keeps the real rule."""
    return ip == ipaddress.ip_address("127.0.0.1") or is_public_address(ip)


def _fetch_error(fetcher: SafeFetcher, url: str) -> ProcessingError:
    with pytest.raises(ProcessingError) as excinfo:
        fetcher.fetch(url)
    return excinfo.value


def test_fetches_page_with_metadata(site: TestSite, fetcher: SafeFetcher) -> None:
    result = fetcher.fetch(site.url("/"))
    assert result.status_code == 200
    assert result.final_url == site.url("/")
    assert result.content_type == "text/html"
    assert result.encoding == "utf-8"
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified == "Mon, 15 Jan 2024 10:00:00 GMT"
    assert b"Welcome to Acme Widgets" in result.body
    assert result.kind == "html"
    sent = site.requests[-1].headers
    assert sent["user-agent"] == DEFAULT_USER_AGENT
    assert sent["host"] == f"127.0.0.1:{site.port}"


def test_connects_to_the_checked_address_but_sends_the_original_host(site: TestSite) -> None:
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, resolver=resolver) as fetcher:
        result = fetcher.fetch(f"http://acme.test:{site.port}/about")
    assert result.status_code == 200
    assert resolved == ["acme.test"]  # resolved exactly once, by the validator
    assert site.requests[-1].headers["host"] == f"acme.test:{site.port}"
    assert result.final_url == f"http://acme.test:{site.port}/about"


def test_https_pool_uses_the_ip_but_verifies_the_host_name() -> None:
    adapter = PinnedAddressAdapter()
    request = requests.Request("GET", "https://acme.test/page").prepare()
    request._botsmith_pinned_ip = "93.184.216.34"
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(request, True)
    assert (host_params["scheme"], host_params["host"]) == ("https", "93.184.216.34")
    assert pool_kwargs["server_hostname"] == "acme.test"
    assert pool_kwargs["assert_hostname"] == "acme.test"


def test_adapter_refuses_a_request_without_a_checked_address() -> None:
    adapter = PinnedAddressAdapter()
    request = requests.Request("GET", "http://acme.test/").prepare()
    with pytest.raises(ProcessingError) as excinfo:
        adapter.build_connection_pool_key_attributes(request, True)
    assert excinfo.value.code == ErrorCode.BLOCKED_URL


def test_follows_redirects_and_reports_them(site: TestSite, fetcher: SafeFetcher) -> None:
    result = fetcher.fetch(site.url("/old"))
    assert result.status_code == 200
    assert result.final_url == site.url("/about")
    assert result.redirects == [site.url("/old")]
    assert site.requests_seen == ["/old", "/about"]


def test_redirect_not_followed_when_asked(site: TestSite, fetcher: SafeFetcher) -> None:
    result = fetcher.fetch(site.url("/old"), follow_redirects=False)
    assert result.status_code == 301
    assert result.location == site.url("/about")
    assert site.requests_seen == ["/old"]


def test_redirect_loop_stops_after_max_redirects(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, max_redirects=3) as fetcher:
        error = _fetch_error(fetcher, site.url("/redirect-loop"))
    assert error.code == ErrorCode.FETCH_FAILED
    assert "redirected too many times" in error.message
    assert len(site.requests_seen) == 4  # the first request plus three followed redirects


def test_loopback_site_is_blocked_when_private_networks_are_not_allowed(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False) as fetcher:
        error = _fetch_error(fetcher, site.url("/"))
    assert error.code == ErrorCode.BLOCKED_URL
    assert site.requests_seen == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/after-loopback-redirect",
        "http://0x7f000002:{port}/after-loopback-redirect",
        "http://[::1]:{port}/after-loopback-redirect",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/after-loopback-redirect",
        "file:///etc/passwd",
    ],
)
def test_redirect_from_public_site_into_private_network_is_blocked(site: TestSite, target: str) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=_test_server_counts_as_public) as fetcher:
        assert fetcher.fetch(site.url("/about")).status_code == 200  # the "public" site itself is fine
        error = _fetch_error(fetcher, site.url("/redirect?to=" + target.format(port=site.port)))
    assert error.code == ErrorCode.BLOCKED_URL
    assert site.requests_seen[-1].startswith("/redirect?to=")
    assert "/after-loopback-redirect" not in site.requests_seen


def test_redirect_to_loopback_route(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=False, is_public=_test_server_counts_as_public) as fetcher:
        error = _fetch_error(fetcher, site.url("/redirect-to-loopback"))
    assert error.code == ErrorCode.BLOCKED_URL
    assert "127.0.0.2" in error.message


def test_conditional_request_gives_not_modified(site: TestSite, fetcher: SafeFetcher) -> None:
    first = fetcher.fetch(site.url("/about"))
    second = fetcher.fetch(site.url("/about"), etag=first.etag, last_modified=first.last_modified)
    assert second.status_code == 304
    assert second.not_modified is True
    assert second.body == b""
    assert site.requests[-1].headers["if-none-match"] == first.etag
    assert site.requests[-1].headers["if-modified-since"] == first.last_modified


def test_error_statuses_are_returned_not_raised(site: TestSite, fetcher: SafeFetcher) -> None:
    missing = fetcher.fetch(site.url("/missing"))
    assert (missing.status_code, missing.body) == (404, b"")
    assert fetcher.fetch(site.url("/server-error")).status_code == 500


def test_unwanted_content_type_is_not_downloaded(site: TestSite, fetcher: SafeFetcher) -> None:
    result = fetcher.fetch(site.url("/data.bin"), content_types=SUPPORTED_TYPES)
    assert result.body_skipped is True
    assert result.body == b""
    assert result.kind is None


def test_gzip_bomb_is_cut_off_at_the_decoded_byte_cap_with_bounded_memory(site: TestSite) -> None:
    from tests.fixtures.http_server import gzip_bomb_bytes

    compressed = gzip_bomb_bytes()  # build it outside the measurement
    assert len(compressed) < 1024 * 1024
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, max_bytes=2 * 1024 * 1024) as fetcher:
        tracemalloc.start()
        try:
            error = _fetch_error(fetcher, site.url("/gzip-bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert error.code == ErrorCode.TOO_LARGE
    assert "2 MB" in error.message
    assert peak < 20 * 1024 * 1024  # nowhere near the 120 MB the bomb expands to


def test_declared_content_length_over_the_cap_is_refused_before_reading(site: TestSite) -> None:
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, max_bytes=1024 * 1024) as fetcher:
        started = time.monotonic()
        error = _fetch_error(fetcher, site.url("/huge"))
    assert error.code == ErrorCode.TOO_LARGE
    assert time.monotonic() - started < 5


def test_body_without_length_is_capped_while_streaming(site: TestSite) -> None:
    def endless(_site: TestSite, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for _ in range(50):
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass

    site.routes["/endless"] = endless
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, max_bytes=256 * 1024) as fetcher:
        error = _fetch_error(fetcher, site.url("/endless"))
    assert error.code == ErrorCode.TOO_LARGE


def test_slow_drip_is_aborted_at_the_total_time_budget(site: TestSite) -> None:
    # Each byte arrives well within the read timeout; only the total budget can stop this.
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, read_timeout=5, total_timeout=1.5) as fetcher:
        started = time.monotonic()
        error = _fetch_error(fetcher, site.url("/slow"))
        elapsed = time.monotonic() - started
    assert error.code == ErrorCode.TIMEOUT
    assert "1.5 seconds" in error.message
    assert 1.4 < elapsed < 3.0


def test_silent_server_is_aborted_at_the_total_budget_not_the_read_timeout(site: TestSite) -> None:
    def stall(_site: TestSite, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"<html>")
        handler.wfile.flush()
        time.sleep(4)

    site.routes["/stall"] = stall
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, read_timeout=30, total_timeout=1) as fetcher:
        started = time.monotonic()
        error = _fetch_error(fetcher, site.url("/stall"))
        elapsed = time.monotonic() - started
    assert error.code == ErrorCode.TIMEOUT
    assert elapsed < 2.5


def test_connection_refused_is_a_friendly_fetch_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True) as fetcher:
        error = _fetch_error(fetcher, f"http://127.0.0.1:{closed_port}/")
    assert error.code == ErrorCode.FETCH_FAILED
    assert "Could not connect to 127.0.0.1" in error.message


def test_environment_proxies_and_netrc_are_ignored(site: TestSite, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("http_proxy", "http://10.9.9.9:3128")
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, connect_timeout=1) as fetcher:
        assert fetcher.fetch(site.url("/about")).status_code == 200
    assert "authorization" not in site.requests[-1].headers


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("text/html; charset=utf-8", b"", "html"),
        ("application/xhtml+xml", b"", "html"),
        ("text/plain", b"", "text"),
        ("application/pdf", b"", "pdf"),
        ("application/octet-stream", b"%PDF-1.7 ...", "pdf"),
        ("", b"<!DOCTYPE html><html>", "html"),
        ("application/zip", b"PK\x03\x04", None),
        ("image/png", b"", None),
    ],
)
def test_classify_content(content_type: str, body: bytes, kind: str | None) -> None:
    assert classify_content(content_type, body) == kind


@pytest.fixture
def tls_site(tmp_path):
    """The test site over HTTPS with a self-signed certificate for acme.test only."""
    import shutil
    import ssl
    import subprocess

    from tests.fixtures.http_server import serve_test_site

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=acme.test",
         "-addext", "subjectAltName=DNS:acme.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve_test_site(ssl_context=context) as running:
        yield running, str(cert)


def test_https_to_pinned_ip_verifies_certificate_for_the_host_name(tls_site) -> None:
    site, cert = tls_site
    resolver = lambda host, port: ["127.0.0.1"]  # noqa: E731
    with SafeFetcher(DEFAULT_USER_AGENT, allow_private=True, resolver=resolver, verify=cert) as fetcher:
        result = fetcher.fetch(f"https://acme.test:{site.port}/about")
        assert result.status_code == 200
        assert b"About us" in result.body
        assert site.requests[-1].headers["host"] == f"acme.test:{site.port}"
        # Same IP, other name: the certificate does not match, so the TLS check must fail.
        error = _fetch_error(fetcher, f"https://other.test:{site.port}/about")
    assert error.code == ErrorCode.FETCH_FAILED
    assert "certificate" in error.message
