"""Usage reports of a chatbot and the record of each retention cleanup run."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from botsmith.models import Chatbot


class AnalyticsReport(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Origin(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled (daily)"
        API = "api", "Requested through the API"
        TASK = "task", "Task called directly"

    chatbot = models.ForeignKey(Chatbot, on_delete=models.CASCADE, related_name="reports")
    period = models.CharField(max_length=8, help_text="24h, 7d, 30d, 90d or Nd (N from 1 to 365).")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    period_end_date = models.DateField(help_text="UTC date of period_end: one scheduled report per day.")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.TASK)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    data = models.JSONField(default=dict, blank=True, help_text="The figures, filled when completed.")
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty for scheduled reports.",
    )
    task_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Two beats sending generate_daily_reports by mistake still make one report.
            models.UniqueConstraint(
                fields=["chatbot", "period", "period_end_date"],
                condition=Q(origin="scheduled"),
                name="report_one_scheduled_per_day",
            ),
        ]
        indexes = [models.Index(fields=["chatbot", "-created_at"], name="report_chatbot_created")]

    def __str__(self) -> str:
        return f"{self.chatbot} {self.period} report to {self.period_end:%Y-%m-%d %H:%M}"


class CleanupRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    task_id = models.CharField(max_length=255, blank=True, db_index=True)
    arguments = models.JSONField(default=dict, help_text="The arguments as received, valid or not.")
    days = models.IntegerField(null=True, blank=True, help_text="Retention in days (empty when refused).")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    error_message = models.TextField(blank=True)
    conversations = models.PositiveIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    notifications = models.PositiveIntegerField(default=0)
    task_results = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    per_chatbot = models.JSONField(
        default=dict, blank=True, help_text='{"<chatbot id>": {"retention_days", "conversations", "messages"}}'
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        mode = "dry run" if self.dry_run else "cleanup"
        return f"{mode} {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
