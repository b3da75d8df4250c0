"""Core models: chatbots and the conversations their visitors have with them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Chatbot(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatbots")
    name = models.CharField(max_length=200)
    chunk_size = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(100), MaxValueValidator(8000)],
        help_text="Maximum characters per chunk for this chatbot's sources; empty uses the global default.",
    )
    chunk_overlap = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(4000)],
        help_text="Characters repeated between consecutive chunks; empty uses the global default.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Delete conversations older than this many days; empty uses the cleanup task's value.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="chatbot_owner_created")]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    chatbot = models.ForeignKey(Chatbot, on_delete=models.CASCADE, related_name="conversations")
    visitor_id = models.CharField(max_length=128, db_index=True, help_text="Anonymous id of the visitor.")
    started_at = models.DateTimeField(db_index=True)
    last_activity_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        indexes = [
            # cleanup: "conversations idle for more than N days" (global and per chatbot)
            models.Index(fields=["last_activity_at"], name="conv_last_activity"),
            models.Index(fields=["chatbot", "last_activity_at"], name="conv_chatbot_activity"),
            # analytics: "conversations of a chatbot started in a period"
            models.Index(fields=["chatbot", "started_at"], name="conv_chatbot_started"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} with {self.visitor_id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Feedback(models.IntegerChoices):
        NEGATIVE = -1, "Negative"
        POSITIVE = 1, "Positive"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    created_at = models.DateTimeField()
    response_time_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="For assistant messages: time taken to answer."
    )
    feedback = models.SmallIntegerField(choices=Feedback.choices, null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_conversation_created"),
            models.Index(fields=["created_at"], name="msg_created"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class ScheduleLock(models.Model):
    """One row per periodic task: the slot a scheduler has claimed (see ``botsmith.beat``)."""

    name = models.CharField(max_length=200, primary_key=True)
    locked_until = models.DateTimeField()

    class Meta:
        verbose_name = "schedule lock"

    def __str__(self) -> str:
        return f"{self.name} until {self.locked_until:%Y-%m-%d %H:%M:%S}"
