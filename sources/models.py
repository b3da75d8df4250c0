"""Knowledge sources (uploaded files, websites) and the chunks made from them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from botsmith.errors import ErrorCode
from botsmith.models import Chatbot


def source_upload_path(instance: Source, filename: str) -> str:
    """A server-chosen storage name: the user's filename never becomes part of a path."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    ext = ext if ext.isalnum() and len(ext) <= 8 else "bin"
    return f"sources/{instance.chatbot_id}/{uuid.uuid4().hex}.{ext}"


class Source(models.Model):
    class Kind(models.TextChoices):
        FILE = "file", "File"
        WEBSITE = "website", "Website"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Refresh(models.TextChoices):
        NONE = "none", "Never"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        CRONTAB = "crontab", "Custom crontab"

    ACTIVE_STATUSES = (Status.QUEUED, Status.PENDING, Status.PROCESSING)
    FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    chatbot = models.ForeignKey(Chatbot, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=255, help_text="Display name (the uploaded file's name, or the URL).")
    original_filename = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to=source_upload_path, max_length=255, blank=True)
    url = models.URLField(max_length=2048, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    file_kind = models.CharField(
        max_length=16, blank=True, help_text="Detected format: pdf, docx, xlsx, csv, txt, image, ..."
    )
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    stage = models.CharField(max_length=120, blank=True)
    error_code = models.CharField(max_length=32, choices=ErrorCode.choices, blank=True)
    error_message = models.TextField(blank=True)
    notices = models.JSONField(default=list, blank=True, help_text="Warnings such as truncation.")

    units_total = models.PositiveIntegerField(null=True, blank=True)
    units_done = models.PositiveIntegerField(default=0)
    unit_name = models.CharField(max_length=16, blank=True, help_text="pages, rows, paragraphs or lines")
    units_with_text = models.PositiveIntegerField(default=0)
    sheet_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    char_count = models.BigIntegerField(default=0)
    engine = models.CharField(max_length=32, blank=True)

    class Ocr(models.TextChoices):
        AUTO = "auto", "Pages that need it"
        ALWAYS = "always", "Every page"
        NEVER = "never", "Never"

    class Render(models.TextChoices):
        AUTO = "auto", "Pages that need it"
        ALWAYS = "always", "Every page"
        NEVER = "never", "Never"

    chunk_size = models.PositiveIntegerField(default=1000)
    chunk_overlap = models.PositiveIntegerField(default=150)
    ocr = models.CharField(
        max_length=8, choices=Ocr.choices, default=Ocr.AUTO,
        help_text="OCR for scanned pages: auto (pages without a text layer), always, or never.",
    )
    crawl_options = models.JSONField(default=dict, blank=True)
    render = models.CharField(
        max_length=8, choices=Render.choices, default=Render.AUTO,
        help_text="Websites: run pages in headless Chromium: auto (pages that look like JavaScript apps), "
        "always, or never.",
    )
    crawl_report = models.JSONField(default=dict, blank=True, help_text="Pages crawled, failed, skipped, changed.")
    crawl_pages = models.JSONField(
        default=dict, blank=True, help_text="Per-URL state for re-crawls: etag, last-modified, content hash."
    )
    refresh = models.CharField(max_length=16, choices=Refresh.choices, default=Refresh.NONE)
    refresh_crontab = models.CharField(max_length=100, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    batch_id = models.UUIDField(null=True, blank=True, help_text="Sources uploaded or crawled together.")
    task_id = models.CharField(max_length=255, blank=True, db_index=True)
    run_id = models.UUIDField(null=True, blank=True, help_text="The current processing run.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Deliveries of the current run.")
    generation = models.PositiveIntegerField(default=0, help_text="Chunk generation being written or active.")
    active_generation = models.PositiveIntegerField(default=0, help_text="Chunk generation readers see.")
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class IndexStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    # Semantic index state, owned by the ``retrieval`` app. ``completed`` means stored and
    # keyword-searchable; ``index_status=ready`` means semantic search covers every active chunk too.
    index_status = models.CharField(max_length=16, choices=IndexStatus.choices, default=IndexStatus.PENDING)
    embedded_count = models.PositiveIntegerField(default=0, help_text="Active chunks with a vector of index_model.")
    index_model = models.CharField(max_length=200, blank=True, help_text="backend:model:dimension of the vectors.")
    index_message = models.TextField(blank=True)
    index_task_id = models.CharField(max_length=255, blank=True)
    index_updated_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["chatbot", "status"], name="source_chatbot_status"),
            models.Index(fields=["chatbot", "sha256"], name="source_chatbot_sha"),
            models.Index(fields=["status", "heartbeat_at"], name="source_status_heartbeat"),
            models.Index(fields=["batch_id"], name="source_batch"),
            models.Index(fields=["status", "index_status"], name="source_index_status"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES


class Chunk(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="chunks")
    chatbot = models.ForeignKey(Chatbot, on_delete=models.CASCADE, related_name="chunks")
    generation = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(
        default=False, help_text="Staged chunks of a run become active together when the run succeeds."
    )
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    char_count = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["source", "generation", "ordinal"], name="chunk_unique_ordinal"),
        ]
        indexes = [
            models.Index(fields=["chatbot"], condition=Q(is_active=True), name="chunk_chatbot_active"),
            models.Index(fields=["source", "is_active", "ordinal"], name="chunk_source_order"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}#{self.ordinal}"
