"""Admin pages for chatbots (with their sources and latest report), conversations and messages."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from analytics.models import AnalyticsReport
from sources.models import Source

from .models import Chatbot, Conversation, Message, ScheduleLock

SOURCES_LISTED = 50


@admin.register(Chatbot)
class ChatbotAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "chunk_size", "chunk_overlap", "retention_days", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at", "sources_by_status", "source_list", "latest_report")
    fieldsets = [
        (None, {"fields": ("owner", "name", "chunk_size", "chunk_overlap", "retention_days")}),
        ("Sources and latest report", {"fields": ("sources_by_status", "source_list", "latest_report")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    ]

    @admin.display(description="sources by status")
    def sources_by_status(self, obj: Chatbot) -> SafeString | str:
        if obj.pk is None:
            return "-"
        rows = Source.objects.filter(chatbot=obj).values("status").annotate(n=Count("id")).order_by("status")
        if not rows:
            return "No sources yet."
        changelist = reverse("admin:sources_source_changelist")
        return format_html_join(
            ", ", '<a href="{}?chatbot__id__exact={}&amp;status__exact={}">{}: {}</a>',
            ((changelist, obj.pk, r["status"], Source.Status(r["status"]).label, r["n"]) for r in rows),
        )

    @admin.display(description="sources (latest updated first)")
    def source_list(self, obj: Chatbot) -> SafeString | str:
        if obj.pk is None:
            return "-"
        sources = Source.objects.filter(chatbot=obj).order_by("-updated_at", "-id")[:SOURCES_LISTED]
        rows = format_html_join(
            "", '<tr><td><a href="{}">{}</a></td>' + "<td>{}</td>" * 2 + "<td>{}%</td>" + "<td>{}</td>" * 3 + "</tr>",
            ((reverse("admin:sources_source_change", args=[s.pk]), s.name, s.get_kind_display(),
              s.get_status_display(), s.progress, s.chunk_count, s.error_code or "-",
              date_format(timezone.localtime(s.updated_at), "DATETIME_FORMAT"))
             for s in sources),
        )
        if not rows:
            return "-"
        return format_html(
            '<table id="chatbot-sources"><thead><tr><th>Source</th><th>Kind</th><th>Status</th><th>Progress</th>'
            "<th>Chunks</th><th>Error</th><th>Updated</th></tr></thead><tbody>{}</tbody></table>", rows,
        )

    @admin.display(description="latest report")
    def latest_report(self, obj: Chatbot) -> SafeString | str:
        report = (AnalyticsReport.objects.filter(chatbot=obj, status=AnalyticsReport.Status.COMPLETED)
                  .order_by("-period_end", "-id").first()) if obj.pk else None
        if report is None:
            return "No completed report yet."
        data = report.data or {}
        messages = data.get("messages") or {}
        return format_html(
            '<a href="{}">{} report to {}</a>: {} conversations, {} messages, {} unique visitors',
            reverse("admin:analytics_analyticsreport_change", args=[report.pk]), report.period,
            report.period_end, data.get("conversations", "-"), messages.get("total", "-"),
            data.get("unique_visitors", "-"),
        )


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("role", "content", "created_at", "response_time_ms", "feedback")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "chatbot", "visitor_id", "started_at", "last_activity_at")
    list_filter = ("started_at", "last_activity_at")
    search_fields = ("visitor_id", "chatbot__name")
    raw_id_fields = ("chatbot",)
    date_hierarchy = "last_activity_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "short_content", "feedback", "response_time_ms", "created_at")
    list_filter = ("role", "feedback", "created_at")
    search_fields = ("content", "conversation__visitor_id")
    raw_id_fields = ("conversation",)
    date_hierarchy = "created_at"

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]


@admin.register(ScheduleLock)
class ScheduleLockAdmin(admin.ModelAdmin):
    list_display = ("name", "locked_until")
    search_fields = ("name",)
    readonly_fields = ("name", "locked_until")
