"""API views that record conversations and messages (the data analytics reports are made from)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import generics
from rest_framework.serializers import BaseSerializer

from analytics import selectors
from analytics.serializers import ConversationSerializer, MessageSerializer
from analytics.services.recording import record_conversation, record_message
from botsmith.models import Conversation, Message
from botsmith.selectors import get_chatbot_for_user


class ChatbotConversationList(generics.ListCreateAPIView):
    """GET: the chatbot's conversations. POST ``visitor_id`` (optional ``started_at``): record one (201)."""

    serializer_class = ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.filter(chatbot=get_chatbot_for_user(self.request.user, self.kwargs["chatbot_id"]))

    def perform_create(self, serializer: BaseSerializer) -> None:
        chatbot = get_chatbot_for_user(self.request.user, self.kwargs["chatbot_id"])
        serializer.instance = record_conversation(chatbot, **serializer.validated_data)


class ConversationMessageList(generics.ListCreateAPIView):
    """GET: the conversation's messages. POST ``role``, ``content`` (optional ``response_time_ms``, ``feedback``)."""

    serializer_class = MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        conversation = selectors.get_conversation_for_user(self.request.user, self.kwargs["conversation_id"])
        return Message.objects.filter(conversation=conversation)

    def perform_create(self, serializer: BaseSerializer) -> None:
        conversation = selectors.get_conversation_for_user(self.request.user, self.kwargs["conversation_id"])
        serializer.instance = record_message(conversation, **serializer.validated_data)
