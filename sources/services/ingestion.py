"""Document ingestion: extract a stored file, clean and chunk its text, store the chunks, finish the run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from botsmith.errors import ErrorCode, ProcessingError
from sources.chunking import ChunkDraft
from sources.extractors.base import ExtractionLimits, ExtractionStats
from sources.models import Source
from sources.services import chunk_store, lifecycle
from sources.services.extraction import ChunkBatch, ExtractionProcess, SandboxLimits, StatsUpdate
from sources.services.stored_files import local_copy

logger = logging.getLogger(__name__)

TIMEOUT_MESSAGE = "Processing took longer than the time limit and was stopped. Try splitting the file."


def extraction_limits(ocr: str = Source.Ocr.AUTO) -> ExtractionLimits:
    return ExtractionLimits(
        max_pages=settings.MAX_PDF_PAGES, max_rows=settings.MAX_SHEET_ROWS, truncate=settings.TRUNCATE_OVER_LIMIT,
        max_image_pixels=settings.MAX_IMAGE_PIXELS, ocr=str(ocr), ocr_languages=settings.OCR_LANGUAGES,
        ocr_command=settings.OCR_COMMAND, ocr_dpi=settings.OCR_DPI, ocr_workers=settings.OCR_WORKERS,
        stream_sheets_over_bytes=settings.XLSX_STREAMING_THRESHOLD_MB * 1024 * 1024,
    )


def sandbox_limits() -> SandboxLimits:
    return SandboxLimits(
        memory_mb=settings.EXTRACTION_MEMORY_LIMIT_MB, cpu_seconds=settings.EXTRACTION_CPU_LIMIT_SECONDS
    )


def ingest_document(
    source_id: Any,
    *,
    task_id: str | None = None,
    chatbot_id: Any = None,
    timeout_errors: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Process one file source end to end. Safe to call twice: a finished source is left alone.

    Raises ``ProcessingError`` for bad arguments and for a failed document (after recording it on
    the source); ``timeout_errors`` (the task's soft time limit) end the run as ``timeout``.
    Other exceptions (database or storage hiccups) propagate for the caller to retry.
    """
    outcome = lifecycle.claim_source(source_id, task_id, kind=Source.Kind.FILE)
    if isinstance(outcome, lifecycle.Skip):
        return {"source_id": int(source_id), "status": outcome.status, "skipped": outcome.reason}
    claim = outcome
    if chatbot_id is not None and str(claim.source.chatbot_id) != str(chatbot_id):
        lifecycle.fail_run(claim, ErrorCode.INVALID_ARGUMENT, "The source does not belong to that chatbot.")
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"Source {source_id} does not belong to chatbot {chatbot_id}."
        )
    try:
        counts = _extract_and_store(claim)
    except lifecycle.RunSuperseded:
        return {"source_id": claim.source.pk, "status": "superseded"}
    except lifecycle.RunCancelled:
        lifecycle.cancel_run(claim)
        return {"source_id": claim.source.pk, "status": Source.Status.CANCELLED}
    except ProcessingError as exc:
        lifecycle.fail_run(claim, exc.code, exc.message)
        raise
    except Exception as exc:
        if not (timeout_errors and lifecycle.caused_by(exc, timeout_errors)):
            raise
        lifecycle.reset_connection()  # the limit may have struck inside a query
        lifecycle.fail_run(claim, ErrorCode.TIMEOUT, TIMEOUT_MESSAGE)
        raise ProcessingError(ErrorCode.TIMEOUT, TIMEOUT_MESSAGE) from None
    source = lifecycle.complete_run(claim, counts=counts)
    return {
        "source_id": source.pk,
        "status": source.status,
        "chunk_count": source.chunk_count,
        "char_count": source.char_count,
        "units_done": source.units_done,
        "unit_name": source.unit_name,
    }


def _progress_fields(stats: ExtractionStats) -> dict[str, Any]:
    return {
        "units_total": stats.units_total,
        "units_done": stats.units_done,
        "unit_name": stats.unit_name,
        "units_with_text": stats.units_with_text,
    }


def _percent(stats: ExtractionStats) -> int:
    if stats.units_total:
        return 5 + int(90 * min(stats.units_done, stats.units_total) / stats.units_total)
    return 50


def _drafts(proc: ExtractionProcess, reporter: lifecycle.RunReporter) -> Iterator[ChunkDraft]:
    """The child's chunks (cleaned and chunked there), reporting its progress on the way."""
    for item in proc:
        if isinstance(item, StatsUpdate):
            stats = item.stats
            reporter.report(
                progress=_percent(stats), stage=f"Reading {stats.unit_name} {stats.units_done}"
                + (f" of {stats.units_total}" if stats.units_total else ""),
                **_progress_fields(stats),
            )
        elif isinstance(item, ChunkBatch):
            yield from item.drafts


def _extract_and_store(claim: lifecycle.Claim) -> dict[str, Any]:
    source = claim.source
    chunk_store.discard_staged(source.pk, keep_generation=claim.generation)
    reporter = lifecycle.RunReporter(claim)
    reporter.report(progress=1, stage="Reading file", force=True)
    writer = chunk_store.ChunkWriter(source, claim.generation, guard=lifecycle.claim_guard(claim))
    with local_copy(source.file.name or "") as path, ExtractionProcess(
        kind=source.file_kind, path=path, filename=source.original_filename,
        limits=extraction_limits(source.ocr), sandbox=sandbox_limits(),
        chunking=(source.chunk_size, source.chunk_overlap), warm=settings.EXTRACTION_WARM_TEMPLATE,
    ) as proc:
        for _ in writer.add_all(_drafts(proc, reporter)):
            # With the reading counts too: this report takes the throttle's slot after every batch,
            # and batches that index while staging are slow enough to take it every time.
            reporter.report(
                progress=_percent(proc.stats), stage=f"Stored {writer.result.chunk_count} chunks",
                **_progress_fields(proc.stats),
            )
    stats = proc.stats
    if writer.result.chunk_count == 0:
        if source.file_kind == "pdf":
            raise ProcessingError(ErrorCode.NO_TEXT, "This PDF contains no text to learn from.")
        raise ProcessingError(ErrorCode.EMPTY, "This file contains no text to learn from.")
    return {
        **_progress_fields(stats),
        "sheet_count": stats.sheets,
        "engine": stats.engine[:32],
        "notices": list(stats.notices),
        "chunk_count": writer.result.chunk_count,
        "char_count": writer.result.char_count,
    }
