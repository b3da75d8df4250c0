"""Uploads: check each file, store it under a server-chosen name, create its source and queue it."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, transaction
from django.db.models import Sum

from botsmith.errors import ErrorCode, ProcessingError
from botsmith.models import Chatbot
from sources.extractors import content_type_for, detect_kind
from sources.models import Source
from sources.services import dispatch
from sources.services.stored_files import storage_errors

logger = logging.getLogger(__name__)

HEAD_BYTES = 8192
# Bidirectional overrides and isolates can make "evil\u202egpj.pdf" display as "evilfdp.jpg".
_BIDI_CONTROLS = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}


@dataclass
class UploadOutcome:
    name: str
    source: Source | None = None
    duplicate: bool = False
    error_code: str = ""
    detail: str = ""
    http_status: int = 202

    def as_dict(self) -> dict[str, Any]:
        if self.source is None:
            return {"source_id": None, "task_id": None, "status": "refused", "name": self.name,
                    "error_code": self.error_code, "detail": self.detail}
        return {"source_id": self.source.pk, "task_id": self.source.task_id, "status": self.source.status,
                "name": self.source.name, "duplicate": self.duplicate}


def clean_filename(raw: str) -> str:
    """A display name safe to show and log: no directories, control or bidi characters, bounded length."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in unicodedata.normalize("NFC", name)
        if ch not in _BIDI_CONTROLS and unicodedata.category(ch) not in {"Cc", "Cf", "Cs"}
    ).strip().lstrip(".")
    if not name:
        return "upload"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def resolve_chunking(chatbot: Chatbot, chunk_size: int | None, chunk_overlap: int | None) -> tuple[int, int]:
    size = chunk_size or chatbot.chunk_size or settings.DEFAULT_CHUNK_SIZE
    overlap = chunk_overlap if chunk_overlap is not None else chatbot.chunk_overlap
    if overlap is None:
        overlap = settings.DEFAULT_CHUNK_OVERLAP
    if not settings.MIN_CHUNK_SIZE <= size <= settings.MAX_CHUNK_SIZE:
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT,
            f"chunk_size must be between {settings.MIN_CHUNK_SIZE} and {settings.MAX_CHUNK_SIZE}.",
        )
    overlap = min(overlap, size // 2) if chunk_overlap is None else overlap
    if not 0 <= overlap < size:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "chunk_overlap must be at least 0 and below chunk_size.")
    return size, overlap


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    for block in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def check_quota(chatbot: Chatbot, extra_sources: int, extra_bytes: int) -> None:
    usage = Source.objects.filter(chatbot=chatbot).aggregate(total=Sum("size_bytes"))
    count = Source.objects.filter(chatbot=chatbot).count()
    if count + extra_sources > settings.MAX_SOURCES_PER_CHATBOT:
        raise ProcessingError(
            ErrorCode.LIMIT_EXCEEDED,
            f"This chatbot already has {count} sources; the limit is {settings.MAX_SOURCES_PER_CHATBOT}.",
        )
    if (usage["total"] or 0) + extra_bytes > settings.MAX_BYTES_PER_CHATBOT:
        limit_mb = settings.MAX_BYTES_PER_CHATBOT // (1024 * 1024)
        raise ProcessingError(ErrorCode.LIMIT_EXCEEDED, f"This chatbot's storage limit of {limit_mb} MB is reached.")


_STATUS_FOR_CODE = {
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_TYPE: 415,
    ErrorCode.ENCRYPTED: 415,
    ErrorCode.LIMIT_EXCEEDED: 403,
}


def _check_file(upload: UploadedFile, name: str) -> tuple[str, str, str]:
    """Return (kind, sha256, content type) or raise ProcessingError."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_SIZE:
        limit_mb = settings.MAX_UPLOAD_SIZE // (1024 * 1024)
        raise ProcessingError(ErrorCode.TOO_LARGE, f"{name} is larger than the {limit_mb} MB upload limit.")
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    kind = detect_kind(name, head)
    return kind, _sha256(upload), content_type_for(kind, head)


def create_sources_from_upload(
    chatbot: Chatbot,
    files: list[UploadedFile],
    *,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    force: bool = False,
    ocr: str = Source.Ocr.AUTO,
) -> list[UploadOutcome]:
    """One outcome per file, in order; refused files do not stop the others.

    Sources are committed first and their tasks sent right after; if the broker is down, the new
    sources and their stored files are removed again and ``dispatch.BrokerUnavailable`` is raised.
    If the file storage (S3) fails, the same cleanup happens and ``StorageUnavailable`` is raised.
    """
    size, overlap = resolve_chunking(chatbot, chunk_size, chunk_overlap)
    outcomes: list[UploadOutcome] = []
    accepted: list[tuple[UploadOutcome, UploadedFile, str, str, str]] = []
    for upload in files:
        name = clean_filename(upload.name or "upload")
        outcome = UploadOutcome(name=name)
        outcomes.append(outcome)
        try:
            kind, sha, content_type = _check_file(upload, name)
        except ProcessingError as exc:
            outcome.error_code, outcome.detail = exc.code, exc.message
            outcome.http_status = _STATUS_FOR_CODE.get(ErrorCode(exc.code), 400)
            continue
        existing = None if force else Source.objects.filter(chatbot=chatbot, sha256=sha).order_by("-pk").first()
        if existing is not None:
            outcome.source, outcome.duplicate = existing, True
            continue
        accepted.append((outcome, upload, kind, sha, content_type))

    if accepted:
        try:
            check_quota(chatbot, len(accepted), sum(upload.size or 0 for _, upload, *_ in accepted))
        except ProcessingError as exc:
            for outcome, *_ in accepted:
                outcome.error_code, outcome.detail, outcome.http_status = exc.code, exc.message, 403
            return outcomes
        batch_id = uuid.uuid4() if len(accepted) > 1 else None
        created: list[Source] = []
        try:
            with transaction.atomic():
                for outcome, upload, kind, sha, content_type in accepted:
                    source = Source(
                        chatbot=chatbot, kind=Source.Kind.FILE, name=outcome.name, original_filename=outcome.name,
                        content_type=content_type, file_kind=kind, size_bytes=upload.size or 0,
                        sha256=sha, chunk_size=size, chunk_overlap=overlap, batch_id=batch_id, ocr=ocr,
                    )
                    dispatch.prepare_run(source)
                    upload.seek(0)
                    with storage_errors():
                        source.file.save(outcome.name, upload, save=False)
                    created.append(source)
                    source.save()
                    outcome.source = source
            for source in created:
                dispatch.publish(source)
        except Exception:
            _remove(created)
            raise
    return outcomes


def _remove(sources: list[Source]) -> None:
    """Undo a half-done upload: stored files first (they need no database), then committed rows.

    The usual cause is the database or the broker going away, so deleting the rows may fail too;
    a row that stays is a pending source the reaper requeues or fails, never an orphan file.
    """
    for source in sources:
        if source.file.name:
            try:
                with storage_errors():
                    source.file.storage.delete(source.file.name)
            except OSError:
                logger.exception("could not delete stored file %s", source.file.name)
    ids = [source.pk for source in sources if source.pk]
    if not ids:
        return
    try:
        Source.objects.filter(pk__in=ids).delete()
    except DatabaseError:
        logger.exception("could not delete the rows of a failed upload: sources %s", ids)
