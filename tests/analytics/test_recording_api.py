"""Recording conversations and messages through the API: 201, last activity moves forward, owner-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from botsmith.models import Conversation, Message
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_conversation_defaults_to_now(api_client, chatbot):
    before = timezone.now()
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/conversations/", {"visitor_id": "v1"}, format="json")

    assert response.status_code == 201
    conversation = Conversation.objects.get(pk=response.json()["id"])
    assert (conversation.chatbot, conversation.visitor_id) == (chatbot, "v1")
    assert conversation.started_at >= before and conversation.last_activity_at == conversation.started_at


def test_conversation_with_started_at_and_missing_visitor(api_client, chatbot):
    started = timezone.now() - timedelta(days=3)
    ok = api_client.post(f"/api/chatbots/{chatbot.pk}/conversations/",
                         {"visitor_id": "v1", "started_at": started.isoformat()}, format="json")
    bad = api_client.post(f"/api/chatbots/{chatbot.pk}/conversations/", {}, format="json")
    future = api_client.post(f"/api/chatbots/{chatbot.pk}/conversations/",
                             {"visitor_id": "v", "started_at": (timezone.now() + timedelta(days=1)).isoformat()},
                             format="json")

    assert ok.status_code == 201
    assert Conversation.objects.get(pk=ok.json()["id"]).started_at == started
    assert bad.status_code == 400 and "visitor_id" in bad.json()
    assert future.status_code == 400
    assert Conversation.objects.count() == 1


def test_message_updates_last_activity(api_client, chatbot):
    conversation = ConversationFactory(chatbot=chatbot, started_at=timezone.now() - timedelta(hours=2))

    user_msg = api_client.post(f"/api/conversations/{conversation.pk}/messages/",
                               {"role": "user", "content": "Hi"}, format="json")
    reply = api_client.post(f"/api/conversations/{conversation.pk}/messages/",
                            {"role": "assistant", "content": "Hello", "response_time_ms": 850, "feedback": 1},
                            format="json")

    assert (user_msg.status_code, reply.status_code) == (201, 201)
    message = Message.objects.get(pk=reply.json()["id"])
    assert (message.role, message.response_time_ms, message.feedback) == ("assistant", 850, 1)
    conversation.refresh_from_db()
    assert conversation.last_activity_at == message.created_at


def test_an_older_message_does_not_move_last_activity_back(api_client, chatbot):
    conversation = ConversationFactory(chatbot=chatbot)
    last = conversation.last_activity_at
    api_client.post(f"/api/conversations/{conversation.pk}/messages/",
                    {"role": "user", "content": "late", "created_at": (last - timedelta(hours=1)).isoformat()},
                    format="json")
    conversation.refresh_from_db()
    assert conversation.last_activity_at == last


@pytest.mark.parametrize("payload", [
    {"role": "robot", "content": "x"},
    {"role": "user", "content": ""},
    {"role": "user", "content": "x", "feedback": 2},
    {"role": "user", "content": "x", "response_time_ms": 10},
    {"role": "assistant", "content": "x", "response_time_ms": -1},
])
def test_invalid_messages_are_400(api_client, chatbot, payload):
    conversation = ConversationFactory(chatbot=chatbot)
    assert api_client.post(f"/api/conversations/{conversation.pk}/messages/", payload,
                           format="json").status_code == 400
    assert not Message.objects.exists()


def test_another_users_chatbot_or_conversation_is_404(other_client, chatbot):
    conversation = ConversationFactory(chatbot=chatbot)

    assert other_client.post(f"/api/chatbots/{chatbot.pk}/conversations/", {"visitor_id": "v"},
                             format="json").status_code == 404
    assert other_client.post(f"/api/conversations/{conversation.pk}/messages/", {"role": "user", "content": "x"},
                             format="json").status_code == 404
    assert other_client.get(f"/api/conversations/{conversation.pk}/messages/").status_code == 404
    assert Conversation.objects.count() == 1 and not Message.objects.exists()
