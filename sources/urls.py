"""API routes of the sources app."""

from __future__ import annotations

urlpatterns: list = []
