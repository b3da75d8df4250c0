"""API routes of the notifications app."""

from __future__ import annotations

urlpatterns: list = []
