"""API shapes for chatbots."""

from __future__ import annotations

from rest_framework import serializers

from .models import Chatbot


class ChatbotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chatbot
        fields = ["id", "name", "chunk_size", "chunk_overlap", "retention_days", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs: dict) -> dict:
        size = attrs.get("chunk_size", getattr(self.instance, "chunk_size", None))
        overlap = attrs.get("chunk_overlap", getattr(self.instance, "chunk_overlap", None))
        if size is not None and overlap is not None and overlap >= size:
            raise serializers.ValidationError({"chunk_overlap": "Must be smaller than chunk_size."})
        return attrs
