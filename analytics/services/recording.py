"""Recording conversations and messages (what the analytics are computed from)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from botsmith.models import Chatbot, Conversation, Message


def record_conversation(chatbot: Chatbot, *, visitor_id: str, started_at: datetime | None = None) -> Conversation:
    started_at = started_at or timezone.now()
    return Conversation.objects.create(chatbot=chatbot, visitor_id=visitor_id, started_at=started_at,
                                       last_activity_at=started_at)


def record_message(conversation: Conversation, *, role: str, content: str, created_at: datetime | None = None,
                   response_time_ms: int | None = None, feedback: int | None = None) -> Message:
    """Store a message and move the conversation's last activity forward (never backwards)."""
    created_at = created_at or timezone.now()
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, role=role, content=content,
                                         created_at=created_at, response_time_ms=response_time_ms, feedback=feedback)
        # A conditional update, so two messages arriving together cannot move it back.
        Conversation.objects.filter(Q(last_activity_at__lt=created_at), pk=conversation.pk).update(
            last_activity_at=created_at)
    conversation.refresh_from_db(fields=["last_activity_at"])
    return message
