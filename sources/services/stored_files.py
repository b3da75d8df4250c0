"""A stored upload as a local path for the extraction child, streamed from any storage backend."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import Storage, default_storage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, safe_join

from botsmith.errors import ErrorCode, ProcessingError

COPY_CHUNK_BYTES = 1024 * 1024
MISSING_MESSAGE = "The uploaded file is missing from storage; please upload it again."


class StorageUnavailable(OSError):
    """The object store did not answer or refused: an OSError, so tasks retry it like a disk hiccup."""


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn S3 client errors (no connection, time-out, 5xx, access denied) into ``StorageUnavailable``.

    botocore's exceptions are not OSErrors, so without this a storage outage would escape every
    ``except OSError`` (task retries, best-effort deletes) and surface as a bug.
    """
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"object storage error: {exc}") from exc


@contextlib.contextmanager
def local_copy(name: str, storage: Storage | None = None) -> Iterator[str]:
    """A local path for the stored file: the storage's own path, or a streamed temporary copy.

    The copy never holds the file in memory: S3 objects are read from the response body in 1 MB
    chunks (django-storages' ``S3File`` would first download the whole object into a spooled
    buffer, in memory up to ``AWS_S3_MAX_MEMORY_SIZE``), other storages through ``open()``.
    """
    storage = storage or default_storage
    with storage_errors():
        found = bool(name) and storage.exists(name)
    if not found:
        raise ProcessingError(ErrorCode.INTERNAL, MISSING_MESSAGE)
    try:
        yield storage.path(name)
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        with storage_errors():
            copy_to(storage, name, tmp)
        tmp.flush()
        yield tmp.name


def copy_to(storage: Storage, name: str, out: IO[bytes]) -> int:
    """Write the stored file into ``out`` chunk by chunk; refuse one larger than the upload limit."""
    written = 0
    for block in _chunks(storage, name):
        written += len(block)
        if written > settings.MAX_UPLOAD_SIZE:
            # Only a file stored before the limit was lowered gets here; do not fill the disk with it.
            limit_mb = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
            raise ProcessingError(ErrorCode.TOO_LARGE, f"This file is larger than the {limit_mb} MB upload limit.")
        out.write(block)
    return written


def _chunks(storage: Storage, name: str) -> Iterable[bytes]:
    if isinstance(storage, S3Storage):
        key = safe_join(storage.location, clean_name(name))
        try:
            body = storage.connection.meta.client.get_object(Bucket=storage.bucket_name, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                # Deleted since exists() answered (the source was deleted meanwhile): nothing to retry.
                raise ProcessingError(ErrorCode.INTERNAL, MISSING_MESSAGE) from exc
            raise
        try:
            yield from body.iter_chunks(COPY_CHUNK_BYTES)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as src:
        yield from iter(lambda: src.read(COPY_CHUNK_BYTES), b"")
