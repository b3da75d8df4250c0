"""Stored vectors. The keyword index has no model: it is a database-native table (FTS5 on SQLite,
a tsvector table on PostgreSQL) managed by ``retrieval.keyword``."""

from __future__ import annotations

from django.db import models


class Embedding(models.Model):
    """One vector per distinct chunk text and model.

    Keyed by the chunk's content hash, not its id: identical texts (an unchanged page re-crawled, an
    unchanged file reprocessed, the same paragraph in two documents) are embedded once, and a
    reprocess that swaps chunk rows keeps every vector whose text did not change.
    """

    model_key = models.CharField(max_length=200, help_text="backend:model:dimension")
    content_hash = models.CharField(max_length=64)
    vector = models.BinaryField(help_text="float32, little-endian, L2-normalised")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_key", "content_hash"], name="embedding_unique_text"),
        ]
        indexes = [models.Index(fields=["content_hash"], name="embedding_hash")]

    def __str__(self) -> str:
        return f"{self.model_key} {self.content_hash[:12]}"
