"""Admin pages for sources and chunks: a status page per source, with reprocess, cancel and delete."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from botsmith.errors import ProcessingError
from retrieval.services.search import search
from sources import admin_display
from sources.models import Chunk, Source
from sources.selectors import list_chunks_for_source
from sources.services import dispatch, management

CHUNKS_PER_PAGE = 20
SEARCH_MAX_CHARS = 500

SETTINGS_FIELDS = ("name", "chunk_size", "chunk_overlap", "crawl_options", "render")
# "stored_file", not "file": the admin would link the file (a /media/ or bucket URL); stored files
# are private and leave the storage only as chunks through the API.
ORIGIN_FIELDS = ("chatbot", "kind", "url", "stored_file", "original_filename", "content_type", "file_kind",
                 "size_bytes", "sha256", "refresh", "refresh_crontab", "periodic_task")
# Written only by the pipeline (and the retrieval app); shown collapsed for those who need them.
INTERNAL_FIELDS = (
    "status", "progress", "stage", "error_code", "error_message", "notices", "units_total", "units_done",
    "unit_name", "units_with_text", "sheet_count", "chunk_count", "char_count", "engine", "crawl_report",
    "crawl_pages", "batch_id", "task_id", "run_id", "attempts", "generation", "active_generation",
    "cancel_requested", "heartbeat_at", "index_status", "embedded_count", "index_model", "index_message",
    "index_task_id", "index_updated_at", "created_at", "updated_at", "started_at", "finished_at",
)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "chatbot_link", "kind", "file_kind", "status", "progress", "chunk_count", "error_code",
                    "index_status", "embedded_count", "updated_at", "finished_at")
    list_filter = ("status", "index_status", "kind", "file_kind", "error_code", "refresh", "created_at")
    list_select_related = ("chatbot",)
    search_fields = ("name", "url", "original_filename", "chatbot__name", "task_id", "sha256")
    ordering = ("-updated_at", "-id")
    raw_id_fields = ("chatbot", "periodic_task")
    date_hierarchy = "created_at"
    actions = ["reprocess", "cancel", "delete_selected"]
    change_form_template = "admin/sources/source/status_page.html"
    readonly_fields = tuple(f for f in ORIGIN_FIELDS + INTERNAL_FIELDS if f not in ("chatbot", "kind", "url"))

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None) -> tuple[str, ...]:
        # Once a source exists, what it was made from is fixed: reprocess, don't re-point it.
        if obj is None:
            return self.readonly_fields
        return ORIGIN_FIELDS + INTERNAL_FIELDS

    def get_fieldsets(self, request: HttpRequest, obj: Source | None = None) -> Any:
        if obj is None:
            return super().get_fieldsets(request, obj)
        return [
            ("Settings (used by the next reprocess)", {"fields": SETTINGS_FIELDS}),
            ("Origin", {"fields": ORIGIN_FIELDS}),
            ("Internals", {"fields": INTERNAL_FIELDS, "classes": ("collapse",)}),
        ]

    @admin.display(description="stored file")
    def stored_file(self, obj: Source) -> str:
        return obj.file.name or "-"

    @admin.display(description="chatbot", ordering="chatbot__name")
    def chatbot_link(self, obj: Source) -> str:
        url = reverse("admin:botsmith_chatbot_change", args=[obj.chatbot_id])
        return format_html('<a href="{}">{}</a>', url, obj.chatbot.name)

    # --- the status page ------------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        source = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if source is not None:
            context.update(self._status_context(request, source))
        return super().change_view(request, object_id, form_url, context)

    def _status_context(self, request: HttpRequest, source: Source) -> dict[str, Any]:
        paginator = Paginator(list_chunks_for_source(source), CHUNKS_PER_PAGE)
        page = paginator.get_page(request.GET.get("chunks"))
        chunks = [
            {"ordinal": c.ordinal, "location": admin_display.chunk_location(c.metadata),
             "url": admin_display.chunk_url(c.metadata), "text": admin_display.first_lines(c.text)}
            for c in page.object_list
        ]
        query = (request.GET.get("search") or "").strip()[:SEARCH_MAX_CHARS]
        result = search(source.chatbot, query, k=10, mode="hybrid", source_ids=[source.pk]) if query else None
        hits = [
            {"ordinal": h.ordinal, "score": h.score, "location": admin_display.chunk_location(h.metadata),
             "text": admin_display.first_lines(h.text, lines=5, chars=500)}
            for h in (result.results if result else [])
        ]
        report = source.crawl_report or {}
        return {
            "source": source,
            "eta": admin_display.format_eta(source),
            "counts": admin_display.counts(source),
            "crawl_report": report,
            "crawl_failed": report.get("failed") or [],
            "crawl_skipped": report.get("skipped") or [],
            "chunk_page": page,
            "chunks": chunks,
            "search_query": query,
            "search_result": result,
            "search_hits": hits,
            "can_reprocess": source.status not in Source.ACTIVE_STATUSES,
            "can_cancel": source.status in Source.ACTIVE_STATUSES,
            "chatbot_url": reverse("admin:botsmith_chatbot_change", args=[source.chatbot_id]),
        }

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<path:object_id>/reprocess/", self.admin_site.admin_view(require_POST(self.reprocess_view)),
                 name="sources_source_reprocess"),
            path("<path:object_id>/cancel/", self.admin_site.admin_view(require_POST(self.cancel_view)),
                 name="sources_source_cancel"),
        ]
        return own + super().get_urls()  # type: ignore[return-value]

    def _source_for_action(self, request: HttpRequest, object_id: str) -> Source:
        source = get_object_or_404(Source, pk=object_id)
        if not self.has_change_permission(request, source):
            raise PermissionDenied
        return source

    def reprocess_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        source = self._source_for_action(request, object_id)
        self._reprocess_one(request, source)
        return HttpResponseRedirect(reverse("admin:sources_source_change", args=[source.pk]))

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        source = self._source_for_action(request, object_id)
        self._cancel_one(request, source)
        return HttpResponseRedirect(reverse("admin:sources_source_change", args=[source.pk]))

    # --- shared by the buttons and the list actions: the API's own services ------------------------

    def _reprocess_one(self, request: HttpRequest, source: Source) -> bool:
        try:
            dispatch.start_reprocess(source)
        except ProcessingError as exc:
            self.message_user(request, f"{source}: {exc.message}", messages.WARNING)
            return False
        except dispatch.BrokerUnavailable:
            self.message_user(request, f"{source}: the task queue is unreachable; try again shortly.", messages.ERROR)
            return False
        self.message_user(request, f"{source}: queued for reprocessing.")
        return True

    def _cancel_one(self, request: HttpRequest, source: Source) -> bool:
        try:
            management.request_cancel(source)
        except ProcessingError as exc:
            self.message_user(request, f"{source}: {exc.message}", messages.WARNING)
            return False
        self.message_user(request, f"{source}: cancel requested.")
        return True

    @admin.action(description="Reprocess selected sources", permissions=["change"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            self._reprocess_one(request, source)

    @admin.action(description="Cancel selected sources", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            self._cancel_one(request, source)

    def delete_model(self, request: HttpRequest, obj: Source) -> None:
        management.delete_source(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            management.delete_source(source)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("source", "ordinal", "generation", "is_active", "char_count", "token_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("text", "content_hash", "source__name")
    raw_id_fields = ("source", "chatbot")
    readonly_fields = ("source", "chatbot", "generation", "is_active", "ordinal", "text", "char_count",
                       "token_count", "content_hash", "metadata", "created_at")
