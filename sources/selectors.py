"""Read paths of the sources app, every one scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from sources.models import Chunk, Source

User = Any  # an authenticated user or AnonymousUser


def sources_for_user(user: User) -> QuerySet[Source]:
    if not user.is_authenticated:
        return Source.objects.none()
    return Source.objects.filter(chatbot__owner=user).select_related("chatbot")


def get_source_for_user(user: User, source_id: Any) -> Source:
    return get_object_or_404(sources_for_user(user), pk=source_id)


def list_chunks_for_source(source: Source) -> QuerySet[Chunk]:
    """The source's visible chunks in order (staged chunks of a running reprocess are not shown)."""
    return Chunk.objects.filter(source=source, is_active=True).order_by("ordinal")


def find_source_by_task_id(user: User, task_id: str) -> Source | None:
    if not user.is_authenticated or not task_id:
        return None
    queryset = Source.objects.all() if getattr(user, "is_staff", False) else sources_for_user(user)
    return queryset.filter(task_id=task_id).first()


def eta_seconds(source: Source) -> float | None:
    """Remaining seconds from the rate of units done so far, while processing."""
    if source.status != Source.Status.PROCESSING or not source.started_at:
        return None
    if not source.units_total or not source.units_done:
        return None
    elapsed = (timezone.now() - source.started_at).total_seconds()
    if elapsed <= 0:
        return None
    rate = source.units_done / elapsed
    return round(max(source.units_total - source.units_done, 0) / rate, 1)


def text_coverage(source: Source) -> float | None:
    """For PDFs: the share of pages read that gave text."""
    if source.file_kind != "pdf" or not source.units_done:
        return None
    return round(source.units_with_text / source.units_done, 3)
