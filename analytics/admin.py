"""Admin pages: reports (read-only, figures and a day chart) and cleanup runs (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from analytics.charts import daily_bar_chart
from analytics.models import AnalyticsReport, CleanupRun
from analytics.services.dispatch import requeue_report


class ReadOnlyAdmin(admin.ModelAdmin):
    """Machine-written rows: viewable and deletable, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _summary_rows(data: dict[str, Any]) -> list[tuple[str, Any]]:
    msgs, per_conv = data.get("messages") or {}, data.get("messages_per_conversation") or {}
    times, feedback = data.get("response_time_ms") or {}, data.get("feedback") or {}
    kb = data.get("knowledge_base") or {}
    return [
        ("Conversations", data.get("conversations")),
        ("Unique visitors", data.get("unique_visitors")),
        ("Messages (user / assistant)", f"{msgs.get('total')} ({msgs.get('user')} / {msgs.get('assistant')})"),
        ("Messages per conversation (mean / median)", f"{per_conv.get('mean')} / {per_conv.get('median')}"),
        ("Response time ms (mean / p50 / p95)", f"{times.get('mean')} / {times.get('p50')} / {times.get('p95')}"),
        ("Feedback (+ / - / ratio)",
         f"{feedback.get('positive')} / {feedback.get('negative')} / {feedback.get('ratio')}"),
        ("Busiest hour (UTC)", data.get("busiest_hour")),
        ("Sources by status", ", ".join(f"{k}: {v}" for k, v in (kb.get("sources") or {}).items())),
        ("Active chunks / characters", f"{kb.get('chunks')} / {kb.get('characters')}"),
    ]


@admin.register(AnalyticsReport)
class AnalyticsReportAdmin(ReadOnlyAdmin):
    list_display = ("id", "chatbot", "period", "status", "origin", "period_end", "requested_by", "finished_at")
    list_filter = ("status", "origin", "period", "created_at")
    search_fields = ("chatbot__name", "task_id", "requested_by__username")
    list_select_related = ("chatbot", "requested_by")
    date_hierarchy = "created_at"
    actions = ["make_again"]
    fields = ("chatbot", "period", "period_start", "period_end", "origin", "status", "requested_by", "task_id",
              "error_code", "error_message", "created_at", "started_at", "finished_at", "figures", "daily_chart",
              "data")
    readonly_fields = fields

    @admin.display(description="figures")
    def figures(self, obj: AnalyticsReport) -> SafeString | str:
        if obj.status != AnalyticsReport.Status.COMPLETED:
            return "-"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", _summary_rows(obj.data))
        return format_html("<table>{}</table>", rows)

    @admin.display(description="messages and conversations per day")
    def daily_chart(self, obj: AnalyticsReport) -> SafeString | str:
        if obj.status != AnalyticsReport.Status.COMPLETED:
            return "-"
        return daily_bar_chart(obj.data.get("daily") or [])

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_analyticsreport")

    @admin.action(description="Make the selected reports again", permissions=["requeue"])
    def make_again(self, request: HttpRequest, queryset: QuerySet[AnalyticsReport]) -> None:
        queued = sum(requeue_report(report) for report in queryset)
        self.message_user(request, f"{queued} report(s) queued again.", messages.SUCCESS)


@admin.register(CleanupRun)
class CleanupRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started_at", "status", "days", "dry_run", "conversations", "messages", "notifications",
                    "task_results", "files", "finished_at")
    list_filter = ("status", "dry_run", "started_at")
    search_fields = ("task_id", "error_message")
    date_hierarchy = "started_at"
    fields = ("task_id", "status", "arguments", "days", "dry_run", "error_message", "conversations", "messages",
              "notifications", "task_results", "files", "per_chatbot_table", "started_at", "finished_at")
    readonly_fields = fields

    @admin.display(description="per chatbot")
    def per_chatbot_table(self, obj: CleanupRun) -> SafeString | str:
        if not obj.per_chatbot:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((cid, v.get("retention_days") or "default", v.get("conversations"), v.get("messages"))
             for cid, v in sorted(obj.per_chatbot.items(), key=lambda item: int(item[0]))),
        )
        return format_html("<table><tr><th>chatbot</th><th>retention (days)</th><th>conversations</th>"
                           "<th>messages</th></tr>{}</table>", rows)
