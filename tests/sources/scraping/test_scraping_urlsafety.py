"""validate_url refuses private, odd-numeric and non-http targets before any connection is made."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping.urlsafety import is_public_address, normalize_url, validate_url

PUBLIC_V4 = "93.184.216.34"


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://172.16.5.4/", "172.16.5.4"),
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[fc00::1]/", "fc00::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://[2002:7f00:1::1]/", "2002:7f00:1::1"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1"),  # NAT64 wrapping 10.0.0.1
        # Odd numeric forms: the OS resolver turns them into 127.0.0.1, and that is what is checked.
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://localhost:8000/admin", "127.0.0.1"),
    ],
)
def test_private_and_internal_addresses_are_blocked(url: str, address: str) -> None:
    with pytest.raises(ProcessingError) as excinfo:
        validate_url(url, allow_private=False)
    assert excinfo.value.code == ErrorCode.BLOCKED_URL
    assert "private or internal network" in excinfo.value.message
    if url.startswith("http://localhost"):
        assert "127.0.0.1" in excinfo.value.message or "::1" in excinfo.value.message
    else:
        assert address in excinfo.value.message


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", ErrorCode.INVALID_ARGUMENT),
        ("   ", ErrorCode.INVALID_ARGUMENT),
        ("example.com/page", ErrorCode.INVALID_ARGUMENT),
        ("ftp://example.com/file", ErrorCode.BLOCKED_URL),
        ("file:///etc/passwd", ErrorCode.BLOCKED_URL),
        ("javascript:alert(1)", ErrorCode.BLOCKED_URL),
        ("gopher://127.0.0.1:6379/_INFO", ErrorCode.BLOCKED_URL),
        ("http://user:pass@example.com/", ErrorCode.BLOCKED_URL),
        ("http://user@example.com/", ErrorCode.BLOCKED_URL),
        ("http:///nohost", ErrorCode.INVALID_ARGUMENT),
        ("http://exa mple.com/", ErrorCode.INVALID_ARGUMENT),
        ("http://example.com:99999/", ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_malformed_or_non_http_urls_are_refused_without_resolving(url: str, code: str, monkeypatch) -> None:
    def no_dns(*args, **kwargs):
        raise AssertionError("must not resolve")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(ProcessingError) as excinfo:
        validate_url(url, allow_private=True)
    assert excinfo.value.code == code


def test_credentials_never_appear_in_the_error_message() -> None:
    with pytest.raises(ProcessingError) as excinfo:
        validate_url("https://admin:hunter2@example.com/", allow_private=False)
    assert "hunter2" not in excinfo.value.message
    assert "admin" not in excinfo.value.message


def test_public_ip_literal_is_accepted_and_normalised_without_dns(monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("IP literal must not be resolved"))
    checked = validate_url(f"HTTP://{PUBLIC_V4}:80/a/b?q=1#frag", allow_private=False)
    assert checked.url == f"http://{PUBLIC_V4}/a/b?q=1"
    assert checked.addresses == (PUBLIC_V4,)
    assert checked.host_header == PUBLIC_V4


def test_hostname_resolving_to_private_address_is_blocked(monkeypatch) -> None:
    def fake_getaddrinfo(host, port, *args, **kwargs):
        assert host == "evil.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ProcessingError) as excinfo:
        validate_url("https://evil.example/", allow_private=False)
    assert excinfo.value.code == ErrorCode.BLOCKED_URL
    assert "10.0.0.5" in excinfo.value.message


def test_one_private_address_among_public_ones_is_enough_to_block() -> None:
    resolver = lambda host, port: [PUBLIC_V4, "192.168.0.10"]  # noqa: E731
    with pytest.raises(ProcessingError) as excinfo:
        validate_url("https://mixed.example/", allow_private=False, resolver=resolver)
    assert excinfo.value.code == ErrorCode.BLOCKED_URL


def test_resolved_addresses_are_returned_for_pinning() -> None:
    resolver = lambda host, port: ["2606:2800:220:1:248:1893:25c8:1946", PUBLIC_V4]  # noqa: E731
    checked = validate_url("https://Www.Example.COM./path", allow_private=False, resolver=resolver)
    assert checked.host == "www.example.com"
    assert checked.port == 443
    assert checked.url == "https://www.example.com/path"
    assert checked.addresses == ("2606:2800:220:1:248:1893:25c8:1946", PUBLIC_V4)


def test_unresolvable_host_is_a_fetch_failure(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(ProcessingError) as excinfo:
        validate_url("https://no-such-host.example/", allow_private=False)
    assert excinfo.value.code == ErrorCode.FETCH_FAILED
    assert "no-such-host.example" in excinfo.value.message


def test_allow_private_skips_the_address_check_but_not_the_scheme_rules() -> None:
    assert validate_url("http://127.0.0.1:8000/x", allow_private=True).addresses == ("127.0.0.1",)
    with pytest.raises(ProcessingError):
        validate_url("http://user:pw@127.0.0.1/", allow_private=True)


def test_injected_policy_decides_what_counts_as_public() -> None:
    policy = lambda ip: ip == ipaddress.ip_address("127.0.0.1")  # noqa: E731
    assert validate_url("http://127.0.0.1/", allow_private=False, is_public=policy).addresses == ("127.0.0.1",)
    with pytest.raises(ProcessingError):
        validate_url("http://127.0.0.2/", allow_private=False, is_public=policy)


def test_internationalised_host_names_are_punycoded() -> None:
    assert normalize_url("http://bücher.example/")[0] == "http://xn--bcher-kva.example/"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_V4, True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("255.255.255.255", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("::", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public
