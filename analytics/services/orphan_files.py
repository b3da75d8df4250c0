"""Stored source files that no Source points to any more (left by crashes or deleted rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.core.files.storage import Storage, default_storage
from storages.backends.s3 import S3Storage
from storages.utils import safe_join

from sources.models import Source
from sources.services.stored_files import storage_errors

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


def _old_objects(storage: S3Storage, older_than: datetime) -> Iterator[str]:
    """S3: one LIST call per 1,000 objects, their ages included, instead of a LIST per folder and a HEAD per file."""
    prefix = safe_join(storage.location, SOURCES_PREFIX) + "/"
    strip = len(safe_join(storage.location, "x")) - 1  # "location/" (or nothing): back to storage names
    pages = storage.connection.meta.client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket_name, Prefix=prefix)
    with storage_errors():
        for page in pages:
            for obj in page.get("Contents", ()):
                if obj["LastModified"] < older_than:
                    yield obj["Key"][strip:]


def _old_files(storage: Storage, older_than: datetime) -> Iterator[str]:
    if isinstance(storage, S3Storage):
        yield from _old_objects(storage, older_than)
        return
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
