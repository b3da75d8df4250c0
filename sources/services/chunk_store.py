"""Staged chunk writes and the atomic swap that makes a new chunk set visible.

A run writes its chunks as a new, inactive generation in short batches (no long write lock on
SQLite), then one transaction activates it and deletes the previous set. Readers see either the
old set or the new one, never a mix; a failed run leaves the old set searchable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from sources.chunking import ChunkDraft, approx_tokens, content_hash
from sources.models import Chunk, Source


def _sanitize(text: str) -> str:
    # PostgreSQL refuses NUL in text; lone surrogates cannot be encoded in UTF-8.
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass
class StageResult:
    chunk_count: int = 0
    char_count: int = 0


class ChunkWriter:
    """Writes drafts as generation ``generation`` of ``source``, deduplicated by content hash."""

    def __init__(self, source: Source, generation: int, batch_size: int | None = None) -> None:
        self.source = source
        self.generation = generation
        self.batch_size = batch_size or settings.CHUNK_INSERT_BATCH_SIZE
        self.result = StageResult()
        self._seen: set[str] = set()
        self._batch: list[Chunk] = []

    def add_all(self, drafts: Iterable[ChunkDraft]) -> Iterator[int]:
        """Stage drafts; yields the running chunk count after each flushed batch."""
        for draft in drafts:
            text = _sanitize(draft.text)
            digest = content_hash(text)
            if not text.strip() or digest in self._seen:
                continue
            self._seen.add(digest)
            self._batch.append(
                Chunk(
                    source_id=self.source.pk,
                    chatbot_id=self.source.chatbot_id,
                    generation=self.generation,
                    is_active=False,
                    ordinal=self.result.chunk_count,
                    text=text,
                    char_count=len(text),
                    token_count=approx_tokens(text),
                    content_hash=digest,
                    metadata=draft.metadata,
                )
            )
            self.result.chunk_count += 1
            self.result.char_count += len(text)
            if len(self._batch) >= self.batch_size:
                self.flush()
                yield self.result.chunk_count
        self.flush()

    def flush(self) -> None:
        if self._batch:
            Chunk.objects.bulk_create(self._batch, batch_size=self.batch_size)
            self._batch = []


def discard_staged(source_id: int, keep_generation: int) -> int:
    """Remove inactive chunks of other generations (left by a crashed or failed run)."""
    deleted, _ = Chunk.objects.filter(source_id=source_id, is_active=False).exclude(
        generation=keep_generation
    ).delete()
    return deleted


def discard_inactive(source_id: int) -> None:
    Chunk.objects.filter(source_id=source_id, is_active=False).delete()


def discard_generation(source_id: int, generation: int) -> None:
    Chunk.objects.filter(source_id=source_id, generation=generation, is_active=False).delete()


def activate_generation(source_id: int, generation: int) -> None:
    """Inside the caller's transaction: make ``generation`` the visible set and drop the rest."""
    assert transaction.get_connection().in_atomic_block, "activate_generation needs a transaction"
    Chunk.objects.filter(source_id=source_id, generation=generation).update(is_active=True)
    Chunk.objects.filter(source_id=source_id).exclude(generation=generation).delete()
