"""Stored source files that no Source points to any more (left by crashes or deleted rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.core.files.storage import Storage, default_storage

from sources.models import Source

SOURCES_PREFIX = "sources"
# An upload is written to storage before its Source row commits: younger files may be in flight.
MIN_ORPHAN_AGE = timedelta(hours=1)


def _walk(storage: Storage, directory: str) -> Iterator[str]:
    try:
        dirs, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{directory}/{name}"
    for sub in sorted(dirs):
        yield from _walk(storage, f"{directory}/{sub}")


def _old_files(storage: Storage, older_than: datetime) -> Iterator[str]:
    for name in _walk(storage, SOURCES_PREFIX):
        try:
            if storage.get_modified_time(name) < older_than:
                yield name
        except FileNotFoundError:
            continue  # deleted meanwhile


def purge_orphan_files(*, now: datetime, dry_run: bool, batch_size: int, storage: Storage | None = None) -> int:
    """Delete (or count) files under ``sources/`` older than an hour that no Source.file names."""
    storage = storage or default_storage
    candidates = _old_files(storage, now - MIN_ORPHAN_AGE)
    removed = 0
    while batch := list(islice(candidates, batch_size)):
        referenced = set(Source.objects.filter(file__in=batch).values_list("file", flat=True))
        for name in batch:
            if name in referenced:
                continue
            if not dry_run:
                storage.delete(name)
            removed += 1
    return removed
