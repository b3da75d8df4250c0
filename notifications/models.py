"""In-app notifications: one row per notice shown to a user."""

from __future__ import annotations

from django.conf import settings
from django.db import models

TITLE_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 5000
LINK_KIND_MAX_LENGTH = 32
LINK_ID_MAX_LENGTH = 64
DEDUPE_KEY_MAX_LENGTH = 255


class NotificationType(models.TextChoices):
    INFO = "info", "Info"
    SUCCESS = "success", "Success"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    message = models.TextField(blank=True, max_length=MESSAGE_MAX_LENGTH)
    notification_type = models.CharField(
        "type", max_length=16, choices=NotificationType.choices, default=NotificationType.INFO
    )
    link_kind = models.CharField(
        max_length=LINK_KIND_MAX_LENGTH,
        null=True,
        blank=True,
        help_text='What the notice is about, e.g. "source", "sources_batch", "report".',
    )
    link_id = models.CharField(
        max_length=LINK_ID_MAX_LENGTH, null=True, blank=True, help_text="Id of the object it is about."
    )
    read_at = models.DateTimeField(null=True, blank=True, help_text="Empty while unread.")
    created_at = models.DateTimeField(auto_now_add=True)
    dedupe_key = models.CharField(
        max_length=DEDUPE_KEY_MAX_LENGTH,
        unique=True,
        null=True,
        blank=True,
        help_text="Makes delivery idempotent: a second delivery with the same key is a no-op.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "my notifications, newest first"
            models.Index(fields=["user", "-created_at"], name="notif_user_created"),
            # "my unread notifications, newest first" and the unread count: small, only unread rows
            models.Index(
                fields=["user", "-created_at"],
                name="notif_user_unread",
                condition=models.Q(read_at__isnull=True),
            ),
            # retention cleanup: "older than N days"
            models.Index(fields=["created_at"], name="notif_created"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
