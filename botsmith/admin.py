"""Admin pages for chatbots, conversations and messages."""

from __future__ import annotations

from django.contrib import admin

from .models import Chatbot, Conversation, Message, ScheduleLock


@admin.register(Chatbot)
class ChatbotAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "chunk_size", "chunk_overlap", "retention_days", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")


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
