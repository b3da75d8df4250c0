"""Builders for analytics tests: conversations at known times, sources and chunks, reports, polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from analytics.models import AnalyticsReport
from botsmith.models import Chatbot, Conversation, Message
from sources.models import Chunk, Source
from tests.factories import ConversationFactory, MessageFactory


def conversation_aged(chatbot: Chatbot, days: float, messages: int = 2, now: datetime | None = None) -> Conversation:
    """A conversation whose last activity was ``days`` ago, with ``messages`` messages before it."""
    last = (now or timezone.now()) - timedelta(days=days)
    conversation = ConversationFactory(chatbot=chatbot, started_at=last - timedelta(minutes=messages),
                                       last_activity_at=last)
    for i in range(messages):
        MessageFactory(conversation=conversation, created_at=last - timedelta(minutes=messages - 1 - i),
                       role=Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT)
    return conversation


def conversation_with(chatbot: Chatbot, visitor: str, started: datetime,
                      turns: Sequence[tuple[str, datetime, int | None, int | None]]) -> Conversation:
    """turns: (role, created_at, response_time_ms, feedback)."""
    conversation = ConversationFactory(chatbot=chatbot, visitor_id=visitor, started_at=started,
                                       last_activity_at=max([started, *(t[1] for t in turns)]))
    for role, at, response_ms, feedback in turns:
        MessageFactory(conversation=conversation, role=role, created_at=at, response_time_ms=response_ms,
                       feedback=feedback)
    return conversation


def source(chatbot: Chatbot, status: str = Source.Status.COMPLETED, **fields: Any) -> Source:
    return Source.objects.create(chatbot=chatbot, kind=Source.Kind.FILE, name="doc.txt", status=status, **fields)


def chunk(src: Source, ordinal: int, chars: int, active: bool = True) -> Chunk:
    return Chunk.objects.create(source=src, chatbot=src.chatbot, ordinal=ordinal, text="x" * chars, char_count=chars,
                                token_count=chars // 4, content_hash=f"h{ordinal}", is_active=active)


def completed_report(chatbot: Chatbot, daily: list[dict[str, Any]], **fields: Any) -> AnalyticsReport:
    end = timezone.now()
    defaults: dict[str, Any] = {"period": "7d", "period_start": end - timedelta(days=7), "period_end": end,
                                "period_end_date": end.date(), "status": AnalyticsReport.Status.COMPLETED,
                                "data": {"daily": daily, "conversations": 1}}
    defaults.update(fields)
    return AnalyticsReport.objects.create(chatbot=chatbot, **defaults)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
