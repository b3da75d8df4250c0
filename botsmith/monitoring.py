"""Who may see operational details: staff users, holders of ``MONITORING_TOKEN``, allowed networks (metrics)."""

from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.http import HttpRequest


def bearer_token(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def has_monitoring_token(request: HttpRequest) -> bool:
    expected = settings.MONITORING_TOKEN
    given = bearer_token(request)
    return bool(expected) and bool(given) and secrets.compare_digest(given.encode(), expected.encode())


def is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


def from_allowed_network(request: HttpRequest) -> bool:
    """``REMOTE_ADDR`` only: a header such as X-Forwarded-For is the caller's to forge."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)
