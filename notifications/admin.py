"""Admin pages for notifications: browse, mark read/unread, and send one to chosen users."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .dispatch import enqueue_notification
from .forms import SendNotificationForm
from .models import Notification
from .services import mark_notifications_read, mark_notifications_unread


class ReadStateFilter(admin.SimpleListFilter):
    title = "read state"
    parameter_name = "read"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "Unread"), ("yes", "Read")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "notification_type", "is_read", "created_at")
    list_filter = ("notification_type", ReadStateFilter, "created_at")
    search_fields = ("title", "message", "user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "read_at", "dedupe_key")
    actions = ("mark_read", "mark_unread")
    change_list_template = "admin/notifications/notification/change_list.html"

    @admin.display(boolean=True, description="read", ordering="read_at")
    def is_read(self, obj: Notification) -> bool:
        return obj.is_read

    @admin.action(description="Mark selected notifications as read", permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = mark_notifications_read(queryset)
        self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)

    @admin.action(description="Mark selected notifications as unread", permissions=["change"])
    def mark_unread(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = mark_notifications_unread(queryset)
        self.message_user(request, f"{count} notification(s) marked as unread.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        send = path(
            "send/",
            self.admin_site.admin_view(self.send_view),
            name="notifications_notification_send",
        )
        return [send, *super().get_urls()]

    def send_view(self, request: HttpRequest) -> HttpResponse:
        """Queue one send_notification task per chosen user (the worker writes and e-mails them)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SendNotificationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            users = list(form.cleaned_data["users"])
            for user in users:
                enqueue_notification(
                    user_id=user.pk,
                    title=form.cleaned_data["title"],
                    message=form.cleaned_data["message"],
                    notification_type=form.cleaned_data["notification_type"],
                )
            self.message_user(request, f"Notification queued for {len(users)} user(s).", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:notifications_notification_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Send notification",
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/notifications/notification/send.html", context)
