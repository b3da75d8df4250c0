"""Read paths for chatbots, always scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Chatbot


def chatbots_for_user(user: Any) -> QuerySet[Chatbot]:
    if not user.is_authenticated:
        return Chatbot.objects.none()
    return Chatbot.objects.filter(owner=user)


def get_chatbot_for_user(user: Any, chatbot_id: object) -> Chatbot:
    """The user's chatbot, or 404: another user's chatbot is indistinguishable from a missing one."""
    return get_object_or_404(chatbots_for_user(user), pk=chatbot_id)
