"""manage.py seed_demo: a demo user and chatbot with conversations over the last N days; re-running replaces them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from botsmith.models import Chatbot, Conversation, Message

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_makes_realistic_data_and_rerunning_replaces_it():
    output = _seed("--days", "14", "--seed", "3")

    chatbot = Chatbot.objects.get(owner__username="demo")
    conversations = Conversation.objects.filter(chatbot=chatbot)
    count = conversations.count()
    assert count > 50 and f"{count} conversations" in output
    now = timezone.now()
    assert all((now - c.started_at).days <= 14 and c.last_activity_at <= now for c in conversations)
    messages = Message.objects.filter(conversation__chatbot=chatbot)
    assert messages.filter(role="user").count() == messages.filter(role="assistant").count()
    assert messages.filter(role="assistant", response_time_ms__isnull=True).count() == 0
    assert messages.filter(feedback__isnull=False).exists()
    assert not get_user_model().objects.get(username="demo").has_usable_password()

    _seed("--days", "14", "--seed", "3")

    assert Conversation.objects.filter(chatbot=chatbot).count() == count
    assert Chatbot.objects.filter(owner__username="demo").count() == 1
