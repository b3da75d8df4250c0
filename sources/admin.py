"""Admin pages for sources and chunks, with reprocess and cancel actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from botsmith.errors import ProcessingError
from sources.models import Chunk, Source
from sources.services import dispatch, management


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "chatbot", "kind", "file_kind", "status", "progress", "chunk_count", "error_code",
                    "index_status", "embedded_count", "created_at", "finished_at")
    list_filter = ("status", "index_status", "kind", "file_kind", "error_code", "refresh", "created_at")
    search_fields = ("name", "url", "original_filename", "chatbot__name", "task_id", "sha256")
    raw_id_fields = ("chatbot", "periodic_task")
    date_hierarchy = "created_at"
    actions = ["reprocess", "cancel"]
    readonly_fields = (
        "file", "content_type", "file_kind", "size_bytes", "sha256", "status", "progress", "stage", "error_code",
        "error_message", "notices", "units_total", "units_done", "unit_name", "units_with_text", "sheet_count",
        "chunk_count", "char_count", "engine", "crawl_report", "crawl_pages", "batch_id", "task_id", "run_id",
        "attempts", "generation", "active_generation", "cancel_requested", "heartbeat_at", "created_at",
        "updated_at", "started_at", "finished_at", "index_status", "embedded_count", "index_model", "index_message",
        "index_task_id", "index_updated_at",
    )

    @admin.action(description="Reprocess selected sources")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        done = 0
        for source in queryset:
            try:
                dispatch.start_reprocess(source)
                done += 1
            except (ProcessingError, dispatch.BrokerUnavailable) as exc:
                self.message_user(request, f"{source}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} source(s) queued for reprocessing.")

    @admin.action(description="Cancel selected sources")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        done = 0
        for source in queryset.filter(status__in=Source.ACTIVE_STATUSES):
            management.request_cancel(source)
            done += 1
        self.message_user(request, f"{done} source(s) cancelled.")


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("source", "ordinal", "generation", "is_active", "char_count", "token_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("text", "content_hash", "source__name")
    raw_id_fields = ("source", "chatbot")
    readonly_fields = ("source", "chatbot", "generation", "is_active", "ordinal", "text", "char_count",
                       "token_count", "content_hash", "metadata", "created_at")
