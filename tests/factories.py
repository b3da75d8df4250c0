"""factory_boy factories for the models tests create most."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from botsmith.models import Chatbot, Conversation, Message


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = "pw-for-tests-123"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # create_user hashes the password before the row is written (sessions check its hash).
        return model_class.objects.create_user(*args, **kwargs)


class ChatbotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chatbot

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Bot {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    chatbot = factory.SubFactory(ChatbotFactory)
    visitor_id = factory.Sequence(lambda n: f"visitor-{n}")
    started_at = factory.LazyFunction(timezone.now)
    last_activity_at = factory.LazyAttribute(lambda o: o.started_at)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message {n}")
    created_at = factory.LazyFunction(timezone.now)
