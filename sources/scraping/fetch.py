"""Fetch one web page safely: pinned addresses, re-checked redirects, byte and time caps."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping.urlsafety import AddressPolicy, Resolver, ValidatedURL, validate_url

DEFAULT_ACCEPT = "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,application/pdf;q=0.8,*/*;q=0.1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
SUPPORTED_TYPES = HTML_TYPES | TEXT_TYPES | PDF_TYPES
_CHUNK = 64 * 1024
# Response headers never handed back: they can carry session secrets.
_PRIVATE_HEADERS = frozenset({"set-cookie", "set-cookie2", "authorization", "proxy-authorization"})
_PIN_ATTR = "_botsmith_pinned_ip"


@dataclass(slots=True)
class FetchResult:
    url: str
    final_url: str
    status_code: int
    headers: dict[str, str]
    content_type: str
    encoding: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    redirects: list[str] = field(default_factory=list)
    location: str | None = None  # absolute target of a redirect that was not followed
    body_skipped: bool = False  # content type outside ``content_types``: body not downloaded

    @property
    def kind(self) -> str | None:
        return classify_content(self.content_type, self.body)


def classify_content(content_type: str, body: bytes = b"") -> str | None:
    """Map a MIME type to "html", "text" or "pdf"; sniff the body when the server sent none."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in HTML_TYPES:
        return "html"
    if mime in TEXT_TYPES:
        return "text"
    if mime in PDF_TYPES:
        return "pdf"
    if mime in ("", "application/octet-stream", "binary/octet-stream") and body:
        head = body[:512].lstrip().lower()
        if head.startswith(b"%pdf-"):
            return "pdf"
        if not mime and head.startswith((b"<!doctype html", b"<html")):
            return "html"
    return None


def _parse_content_type(value: str) -> tuple[str, str | None]:
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip("\"'").lower() or None
    return mime.strip().lower(), charset


class PinnedAddressAdapter(HTTPAdapter):
    """Send each request to the IP the fetcher validated, keeping the host name for TLS.

    The pool is keyed on the IP; SNI and certificate checks use the original host name, and the
    fetcher sets the ``Host`` header itself, so DNS is never consulted again after validation.
    """

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, typed_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(typed_kwargs)
        pinned = getattr(request, _PIN_ATTR, None)
        if not pinned:
            raise ProcessingError(ErrorCode.BLOCKED_URL, "Refusing to connect to an address that was not checked.")
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
            pool_kwargs["assert_hostname"] = host_params["host"]
        host_params["host"] = pinned
        return host_params, pool_kwargs


class SafeFetcher:
    """One fetcher per crawl; not thread-safe (it keeps a requests session with cookies)."""

    def __init__(
        self,
        user_agent: str,
        allow_private: bool,
        connect_timeout: float = 5,
        read_timeout: float = 15,
        total_timeout: float = 30,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        *,
        resolver: Resolver | None = None,
        is_public: AddressPolicy | None = None,
        verify: bool | str = True,
    ) -> None:
        self.user_agent = user_agent
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver
        self.is_public = is_public
        self.session = requests.Session()
        # No proxies, no ~/.netrc credentials from the environment of the worker.
        self.session.trust_env = False
        adapter = PinnedAddressAdapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.verify = verify

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SafeFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def validate(self, url: str) -> ValidatedURL:
        return validate_url(url, allow_private=self.allow_private, resolver=self.resolver, is_public=self.is_public)

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = DEFAULT_ACCEPT,
        follow_redirects: bool = True,
        content_types: Collection[str] | None = None,
    ) -> FetchResult:
        """GET ``url``; redirects are followed by hand so every hop is validated again.

        ``content_types``: when given, a 2xx response of another MIME type is closed without
        reading its body (``body_skipped``), so a crawler does not download archives and videos.
        """
        deadline = time.monotonic() + self.total_timeout
        target = self.validate(url)
        redirects: list[str] = []
        conditional = {"If-None-Match": etag, "If-Modified-Since": last_modified}
        while True:
            headers = {"User-Agent": self.user_agent, "Accept": accept, "Host": target.host_header}
            headers.update({k: v for k, v in conditional.items() if v})
            response = self._send(target, headers, deadline)
            try:
                location = response.headers.get("Location")
                if response.status_code in REDIRECT_STATUSES and location:
                    next_url = urljoin(target.url, location.strip())
                    if not follow_redirects:
                        return self._result(url, target, response, redirects, b"", location=next_url)
                    if len(redirects) >= self.max_redirects:
                        raise ProcessingError(
                            ErrorCode.FETCH_FAILED,
                            f"The website redirected too many times (more than {self.max_redirects}).",
                        )
                    redirects.append(target.url)
                    target = self.validate(next_url)
                    conditional = {}  # validators belong to the first resource, not the target
                    continue
                mime, _ = _parse_content_type(response.headers.get("Content-Type", ""))
                ok = 200 <= response.status_code < 300
                unwanted = content_types is not None and mime != "" and mime not in content_types
                body = self._read_body(response, deadline) if ok and not unwanted else b""
                result = self._result(url, target, response, redirects, body)
                result.body_skipped = ok and unwanted
                return result
            finally:
                response.close()

    def _send(self, target: ValidatedURL, headers: dict[str, str], deadline: float) -> requests.Response:
        request = self.session.prepare_request(requests.Request("GET", target.url, headers=headers))
        last_error: Exception | None = None
        # Try each checked address in turn (IPv6 then IPv4, say) but only on connection failures.
        for address in target.addresses[:3]:
            setattr(request, _PIN_ATTR, address)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            try:
                return self.session.send(
                    request, stream=True, allow_redirects=False, timeout=timeout, verify=self.verify
                )
            except requests.exceptions.ConnectTimeout as exc:
                last_error = exc
            except requests.exceptions.SSLError as exc:
                raise ProcessingError(
                    ErrorCode.FETCH_FAILED,
                    f"The secure connection to {target.host} failed: its HTTPS certificate could not be verified.",
                ) from exc
            except requests.exceptions.ConnectionError as exc:
                if not _is_connect_failure(exc):
                    raise _friendly(exc, target.host, self.read_timeout) from exc
                last_error = exc
            except requests.exceptions.RequestException as exc:
                raise _friendly(exc, target.host, self.read_timeout) from exc
        if isinstance(last_error, requests.exceptions.ConnectTimeout) or last_error is None:
            raise ProcessingError(ErrorCode.TIMEOUT, f"The website {target.host} did not answer in time.")
        raise ProcessingError(
            ErrorCode.FETCH_FAILED, f"Could not connect to {target.host} (the connection was refused or reset)."
        )

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        """Read the decoded body under ``max_bytes`` and the total deadline.

        ``read1`` returns as soon as any bytes arrive, so the deadline is checked between
        drips; a watchdog shuts the socket down if a single read stalls past the deadline.
        Counting after decompression is what stops a gzip bomb.
        """
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes and "Content-Encoding" not in response.headers:
            raise _too_large(self.max_bytes)
        raw = response.raw
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            try:
                raw.shutdown()
            except (AttributeError, OSError, ValueError, RuntimeError):
                pass

        watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), stop)
        watchdog.daemon = True
        watchdog.start()
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() >= deadline:
                    timed_out.set()
                    break
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise _too_large(self.max_bytes)
                parts.append(chunk)
        except ProcessingError:
            raise
        except Exception as exc:
            if timed_out.is_set():
                raise _timeout(self.total_timeout) from None
            if isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in str(exc).lower():
                raise ProcessingError(ErrorCode.TIMEOUT, "The website stopped sending data.") from None
            raise ProcessingError(ErrorCode.FETCH_FAILED, "The connection broke while downloading the page.") from None
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise _timeout(self.total_timeout)
        return b"".join(parts)

    def _result(
        self,
        url: str,
        target: ValidatedURL,
        response: requests.Response,
        redirects: list[str],
        body: bytes,
        *,
        location: str | None = None,
    ) -> FetchResult:
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in _PRIVATE_HEADERS}
        mime, charset = _parse_content_type(headers.get("content-type", ""))
        return FetchResult(
            url=url,
            final_url=target.url,
            status_code=response.status_code,
            headers=headers,
            content_type=mime,
            encoding=charset,
            body=body,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            not_modified=response.status_code == 304,
            redirects=list(redirects),
            location=location,
        )


def _is_connect_failure(exc: Exception) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        nxt = getattr(current, "reason", None) or (current.args[0] if current.args else None)
        current = nxt if isinstance(nxt, BaseException) else current.__cause__
    return False


def _friendly(exc: Exception, host: str, read_timeout: float) -> ProcessingError:
    if isinstance(exc, requests.exceptions.Timeout):
        return ProcessingError(ErrorCode.TIMEOUT, f"The website {host} did not answer within {read_timeout:g} seconds.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ProcessingError(ErrorCode.FETCH_FAILED, f"The connection to {host} failed.")
    return ProcessingError(ErrorCode.FETCH_FAILED, f"Could not fetch the page from {host}.")


def _too_large(limit: int) -> ProcessingError:
    return ProcessingError(ErrorCode.TOO_LARGE, f"The page is larger than the {limit // (1024 * 1024) or 1} MB limit.")


def _timeout(total: float) -> ProcessingError:
    return ProcessingError(ErrorCode.TIMEOUT, f"The page took longer than {total:g} seconds to download.")
