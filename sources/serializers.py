"""API shapes of sources and chunks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from sources import selectors
from sources.models import Chunk, Source
from sources.services import fairness


class UploadSerializer(serializers.Serializer):
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    chunk_size = serializers.IntegerField(required=False, min_value=100, max_value=8000)
    chunk_overlap = serializers.IntegerField(required=False, min_value=0, max_value=4000)
    force = serializers.BooleanField(required=False, default=False)
    ocr = serializers.ChoiceField(choices=Source.Ocr.choices, required=False, default=Source.Ocr.AUTO)

    def validate_file(self, files: list[Any]) -> list[Any]:
        if len(files) > settings.DATA_UPLOAD_MAX_NUMBER_FILES:
            raise serializers.ValidationError(
                f"At most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files per request."
            )
        return files


class SourceSerializer(serializers.ModelSerializer):
    chatbot = serializers.IntegerField(source="chatbot_id", read_only=True)
    eta_seconds = serializers.SerializerMethodField()
    text_coverage = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField(
        help_text="While queued: 1 for the chatbot's next source to start, 2 for the one after, ..."
    )

    class Meta:
        model = Source
        fields = [
            "id", "chatbot", "kind", "name", "url", "file_kind", "content_type", "size_bytes", "status",
            "queue_position", "progress", "stage", "error_code", "error_message", "notices", "chunk_count",
            "char_count",
            "units_total", "units_done", "unit_name", "sheet_count", "text_coverage", "eta_seconds",
            "chunk_size", "chunk_overlap", "ocr", "render", "engine", "crawl_options", "crawl_report", "refresh",
            "task_id",
            "index_status", "embedded_count", "index_model", "index_message",
            "created_at", "started_at", "finished_at", "updated_at",
        ]
        read_only_fields = fields

    def get_queue_position(self, obj: Source) -> int | None:
        return fairness.queue_position(obj)

    def get_eta_seconds(self, obj: Source) -> float | None:
        return selectors.eta_seconds(obj)

    def get_text_coverage(self, obj: Source) -> float | None:
        return selectors.text_coverage(obj)


class ChunkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["ordinal", "text", "char_count", "token_count", "metadata"]
        read_only_fields = fields


class WebsiteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048)
    max_pages = serializers.IntegerField(required=False, default=1, min_value=1)
    max_depth = serializers.IntegerField(required=False, default=2, min_value=0)
    include = serializers.ListField(child=serializers.CharField(max_length=500), required=False, default=list,
                                    max_length=50)
    exclude = serializers.ListField(child=serializers.CharField(max_length=500), required=False, default=list,
                                    max_length=50)
    chunk_size = serializers.IntegerField(required=False, min_value=100, max_value=8000)
    chunk_overlap = serializers.IntegerField(required=False, min_value=0, max_value=4000)
    refresh = serializers.ChoiceField(choices=Source.Refresh.choices, required=False, default=Source.Refresh.NONE)
    refresh_crontab = serializers.CharField(required=False, default="", max_length=100, allow_blank=True)
    render = serializers.ChoiceField(choices=Source.Render.choices, required=False, default=Source.Render.AUTO)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("refresh") == Source.Refresh.CRONTAB and len(attrs.get("refresh_crontab", "").split()) != 5:
            raise serializers.ValidationError({"refresh_crontab": "Five fields: 'minute hour day month weekday'."})
        return attrs
