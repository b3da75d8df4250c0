"""API shapes of the analytics app: report requests and reports, recorded conversations and messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from analytics.models import AnalyticsReport
from analytics.periods import PERIOD_FORMS, parse_period
from botsmith.errors import ProcessingError
from botsmith.models import Conversation, Message

# Clocks differ a little between the client and us; more than this in the future is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)


def _not_in_future(value: Any) -> Any:
    if value is not None and value > timezone.now() + FUTURE_TOLERANCE:
        raise serializers.ValidationError("Must not be in the future.")
    return value


class ReportRequestSerializer(serializers.Serializer):
    period = serializers.CharField(
        max_length=8, default="30d", help_text=f"One of {PERIOD_FORMS}.",
        error_messages=dict.fromkeys(("blank", "max_length", "invalid"), f"Period must be {PERIOD_FORMS}."),
    )

    def validate_period(self, value: str) -> str:
        try:
            parse_period(value)
        except ProcessingError as exc:
            raise serializers.ValidationError(f"Period must be {PERIOD_FORMS}.") from exc
        return value


class ReportListSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnalyticsReport
        fields = ["id", "chatbot", "period", "period_start", "period_end", "status", "origin", "error_code",
                  "error_message", "task_id", "created_at", "finished_at"]
        read_only_fields = fields


class ReportSerializer(ReportListSerializer):
    class Meta(ReportListSerializer.Meta):
        fields = [*ReportListSerializer.Meta.fields, "data"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    started_at = serializers.DateTimeField(required=False, validators=[_not_in_future],
                                           help_text="Defaults to now.")

    class Meta:
        model = Conversation
        fields = ["id", "chatbot", "visitor_id", "started_at", "last_activity_at"]
        read_only_fields = ["id", "chatbot", "last_activity_at"]


class MessageSerializer(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(required=False, validators=[_not_in_future],
                                           help_text="Defaults to now.")
    feedback = serializers.ChoiceField(choices=Message.Feedback.choices, required=False, allow_null=True)

    class Meta:
        model = Message
        fields = ["id", "conversation", "role", "content", "created_at", "response_time_ms", "feedback"]
        read_only_fields = ["id", "conversation"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("response_time_ms") is not None and attrs.get("role") != Message.Role.ASSISTANT:
            raise serializers.ValidationError({"response_time_ms": "Only assistant messages have a response time."})
        return attrs
