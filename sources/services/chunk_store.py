"""Staged chunk writes and the atomic swap that makes a new chunk set visible.

A run writes its chunks as a new, inactive generation in short batches (no long write lock on
SQLite), then one transaction activates it and deletes the previous set. Readers see either the
old set or the new one, never a mix; a failed run leaves the old set searchable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

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

    def __init__(
        self, source: Source, generation: int, batch_size: int | None = None,
        guard: Callable[[], None] | None = None,
    ) -> None:
        """``guard`` runs inside each batch's transaction and raises when the run lost its claim, so a
        run that was failed or taken over (hard time limit, reaper) cannot add rows after the fact."""
        self.source = source
        self.generation = generation
        self.guard = guard
        self.batch_size = batch_size or settings.CHUNK_INSERT_BATCH_SIZE
        self.result = StageResult()
        self._seen: set[str] = set()
        self._batch: list[tuple] = []

    def add_all(self, drafts: Iterable[ChunkDraft]) -> Iterator[int]:
        """Stage drafts; yields the running chunk count after each flushed batch."""
        for draft in drafts:
            text = _sanitize(draft.text)
            digest = content_hash(text)
            if not text.strip() or digest in self._seen:
                continue
            self._seen.add(digest)
            # Plain rows, not Chunk instances: model __init__ and the ORM's per-field compiler were
            # most of the insert time (see benchmarks/pipeline.py).
            self._batch.append(
                (self.source.pk, self.source.chatbot_id, self.generation, False, self.result.chunk_count,
                 text, len(text), approx_tokens(text), digest, draft.metadata)
            )
            self.result.chunk_count += 1
            self.result.char_count += len(text)
            if len(self._batch) >= self.batch_size:
                self.flush()
                yield self.result.chunk_count
        self.flush()

    def flush(self) -> None:
        if self._batch:
            with transaction.atomic():
                if self.guard is not None:
                    self.guard()
                _insert_chunks(self._batch)
            self._batch = []


_COLUMNS = ("source", "chatbot", "generation", "is_active", "ordinal", "text", "char_count", "token_count",
            "content_hash", "metadata", "created_at")


def _insert_chunks(rows: list[tuple]) -> None:
    """Insert staged rows with the SQL ``bulk_create`` would run, but without building model objects.

    Values are prepared by the model's own fields (JSON metadata, the timestamp), so what is stored is
    exactly what ``bulk_create`` stores; ``created_at`` is one ``now()`` per batch.
    """
    using = router.db_for_write(Chunk)
    connection = connections[using]
    meta = Chunk._meta
    fields: list[Any] = [meta.get_field(name) for name in _COLUMNS]
    quote = connection.ops.quote_name
    # Table and column names come from the model, never from input.
    head = "INSERT INTO {} ({}) VALUES ".format(  # noqa: S608
        quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
    )
    metadata_field, created_field = fields[-2], fields[-1]
    created = created_field.get_db_prep_save(timezone.now(), connection)
    prep = metadata_field.get_db_prep_save
    params = [(*row[:-1], prep(row[-1], connection), created) for row in rows]
    if connection.vendor == "postgresql":
        # COPY: psycopg parses a long multi-row INSERT in Python, which made inserts ~7k rows/s.
        columns = ", ".join(quote(f.column) for f in fields)
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor, \
                cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        return
    # One statement per batch where SQLite's real parameter limit allows (Django assumes 999, i.e. 90
    # rows): the keyword index's trigger writes into FTS5, which flushes its pending terms to a new
    # segment at every statement's savepoint, and 90-row statements made indexing 2.4x slower.
    per_statement = max(1, _sqlite_parameter_limit(connection) // len(fields))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(params), per_statement):
            part = params[start:start + per_statement]
            cursor.execute(head + ", ".join([row_sql] * len(part)), list(chain.from_iterable(part)))


def _sqlite_parameter_limit(connection: Any) -> int:
    connection.ensure_connection()
    raw = connection.connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(raw, "getlimit") else 0
    return max(int(limit), connection.features.max_query_params)


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
