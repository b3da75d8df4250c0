"""Decide whether a user-supplied URL may be fetched, and pin it to the addresses that were checked."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from botsmith.errors import ErrorCode, ProcessingError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
AddressPolicy = Callable[[IPAddress], bool]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Belt and braces next to ``ipaddress.is_global``: the stdlib tables changed between patch
# releases (3.11.7 vs 3.12.4), so the ranges that matter for SSRF are listed explicitly.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class ValidatedURL:
    """A normalised http(s) URL plus the IP addresses that passed the check.

    Connecting to ``addresses`` (never re-resolving ``host``) closes the DNS-rebinding window.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is globally routable, looking through v4-in-v6 wrappers."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(is_public_address(v4) for v4 in embedded)
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    # IPv4-compatible (deprecated ::a.b.c.d) forms still reach the v4 host on some stacks.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return [ipaddress.IPv4Address(int(ip))]
    return []


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the OS resolver; this also turns odd numeric forms (0x7f000001, 127.1) into IPs."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return addresses


def normalize_url(url: str) -> tuple[str, str, str, int]:
    """Syntax-only check and normalisation: returns (url, scheme, host, port) or raises INVALID_ARGUMENT/BLOCKED_URL.

    No DNS: the API can call this to reject a bad URL at once.
    """
    if not isinstance(url, str) or not url.strip():
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "Please enter a website address.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This web address is too long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This web address contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This web address is malformed.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        shown = f"{scheme}:" if scheme else "an address without http:// or https://"
        raise ProcessingError(
            ErrorCode.BLOCKED_URL if scheme else ErrorCode.INVALID_ARGUMENT,
            f"Only http:// and https:// web addresses can be fetched, not {shown}.",
        )
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ProcessingError(
            ErrorCode.BLOCKED_URL,
            "Web addresses with a user name or password (user:pass@host) are not allowed.",
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This web address has no host name.")
    try:
        host = host.encode("idna").decode("ascii").lower() if not _is_ip_literal(host) else host
    except UnicodeError:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"The host name {host!r} is not valid.") from None
    if _is_ip_literal(host):
        host = str(ipaddress.ip_address(host))
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This web address has an invalid port.")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port == DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    normalised = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return normalised, scheme, host, port


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_url(
    url: str,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
    is_public: AddressPolicy | None = None,
) -> ValidatedURL:
    """Normalise ``url``, resolve its host and refuse it when any address is not public.

    ``resolver`` and ``is_public`` are injectable so tests can pretend that the local test
    server is a public site and check that a redirect from it into 127.0.0.0/8 is refused.
    """
    normalised, scheme, host, port = normalize_url(url)
    resolve = resolver or system_resolver
    policy = is_public or is_public_address
    if _is_ip_literal(host):
        raw_addresses: Sequence[str] = [host]
    else:
        try:
            raw_addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise ProcessingError(
                ErrorCode.FETCH_FAILED, f"Could not find the website {host}; please check the address."
            ) from None
    if not raw_addresses:
        raise ProcessingError(ErrorCode.FETCH_FAILED, f"Could not find the website {host}; please check the address.")
    addresses: list[str] = []
    for raw in raw_addresses:
        try:
            ip = ipaddress.ip_address(raw)
        except ValueError:
            raise ProcessingError(ErrorCode.BLOCKED_URL, f"The address of {host} could not be checked.") from None
        if not allow_private and not policy(ip):
            raise ProcessingError(
                ErrorCode.BLOCKED_URL,
                f"This address points to a private or internal network ({ip}) and cannot be fetched.",
            )
        addresses.append(str(ip))
    return ValidatedURL(url=normalised, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
