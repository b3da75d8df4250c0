"""Website sources: create one from a URL, crawl it into chunks, keep it fresh on a schedule."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from botsmith.errors import ErrorCode, ProcessingError
from botsmith.models import Chatbot
from sources.chunking import ChunkDraft, chunk_segments
from sources.cleaning import clean_text
from sources.extractors.base import Segment
from sources.models import Chunk, Source
from sources.scraping import (
    DEFAULT_USER_AGENT,
    CrawlFinished,
    CrawlOptions,
    PageFailed,
    PageFetched,
    PageGone,
    PageSkipped,
    PageUnchanged,
    SafeFetcher,
    crawl,
    url_key,
    validate_url,
)
from sources.services import chunk_store, dispatch, lifecycle
from sources.services.extraction import ExtractionProcess
from sources.services.ingestion import extraction_limits, sandbox_limits
from sources.services.rendering import address_policy, make_renderer
from sources.services.uploads import resolve_chunking

logger = logging.getLogger(__name__)

REFRESH_CRONTABS: dict[str, dict[str, str]] = {
    Source.Refresh.DAILY: {"minute": "15", "hour": "3", "day_of_week": "*"},
    Source.Refresh.WEEKLY: {"minute": "15", "hour": "4", "day_of_week": "1"},
}
MAX_LISTED = 200  # pages listed per category in a source's crawl report


@dataclass
class WebsiteRequest:
    url: str
    max_pages: int = 1
    max_depth: int = 2
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    refresh: str = Source.Refresh.NONE
    refresh_crontab: str = ""
    render: str = Source.Render.AUTO


def make_fetcher() -> SafeFetcher:
    return SafeFetcher(
        DEFAULT_USER_AGENT,
        allow_private=settings.SCRAPER_ALLOW_PRIVATE_NETWORKS,
        total_timeout=settings.SCRAPER_PAGE_TIMEOUT_SECONDS,
        max_bytes=settings.SCRAPER_MAX_BYTES,
        is_public=address_policy(),
    )


def check_url(url: str) -> str:
    """Refuse a bad or non-public URL at once (the crawl checks every hop again)."""
    return validate_url(url, allow_private=settings.SCRAPER_ALLOW_PRIVATE_NETWORKS, is_public=address_policy()).url


def create_website_source(chatbot: Chatbot, request: WebsiteRequest) -> Source:
    url = check_url(request.url)
    if not 1 <= request.max_pages <= settings.SCRAPER_MAX_PAGES:
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"max_pages must be between 1 and {settings.SCRAPER_MAX_PAGES}."
        )
    if not 0 <= request.max_depth <= settings.SCRAPER_MAX_DEPTH:
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, f"max_depth must be between 0 and {settings.SCRAPER_MAX_DEPTH}."
        )
    size, overlap = resolve_chunking(chatbot, request.chunk_size, request.chunk_overlap)
    with transaction.atomic():
        source = Source(
            chatbot=chatbot, kind=Source.Kind.WEBSITE, name=url[:255], url=url, content_type="text/html",
            chunk_size=size, chunk_overlap=overlap, refresh=request.refresh, refresh_crontab=request.refresh_crontab,
            render=request.render,
            crawl_options={"max_pages": request.max_pages, "max_depth": request.max_depth,
                           "include": request.include, "exclude": request.exclude},
        )
        dispatch.prepare_run(source)
        source.save()
        set_refresh_schedule(source)
    try:
        dispatch.publish(source)
    except dispatch.BrokerUnavailable:
        if source.periodic_task_id:
            PeriodicTask.objects.filter(pk=source.periodic_task_id).delete()
        source.delete()
        raise
    return source


def _crontab_fields(source: Source) -> dict[str, str]:
    if source.refresh in REFRESH_CRONTABS:
        return REFRESH_CRONTABS[source.refresh]
    parts = source.refresh_crontab.split()
    if len(parts) != 5:
        raise ProcessingError(
            ErrorCode.INVALID_ARGUMENT, "refresh_crontab needs five fields: 'min hour dom month dow'."
        )
    keys = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return dict(zip(keys, parts, strict=True))


def set_refresh_schedule(source: Source) -> None:
    """Create, change or remove the source's re-crawl periodic task (editable in the admin)."""
    if source.refresh == Source.Refresh.NONE:
        if source.periodic_task_id:
            PeriodicTask.objects.filter(pk=source.periodic_task_id).delete()
            source.periodic_task = None
            source.save(update_fields=["periodic_task"])
        return
    fields = {"day_of_month": "*", "month_of_year": "*", **_crontab_fields(source)}
    try:
        crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **fields)
    except Exception as exc:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"Invalid refresh crontab: {exc}") from exc
    task, _ = PeriodicTask.objects.update_or_create(
        name=f"refresh-source-{source.pk}",
        defaults={"task": "sources.tasks.refresh_website", "kwargs": json.dumps({"source_id": source.pk}),
                  "crontab": crontab, "interval": None, "enabled": True,
                  "description": f"Re-crawl {source.url} for chatbot {source.chatbot_id}"},
    )
    source.periodic_task = task
    source.save(update_fields=["periodic_task"])


def refresh_website(source_id: int) -> dict[str, Any]:
    """Periodic re-crawl: start a new run unless one is already queued or running."""
    source = Source.objects.filter(pk=source_id, kind=Source.Kind.WEBSITE).first()
    if source is None:
        return {"source_id": source_id, "status": "missing"}
    if source.status in Source.ACTIVE_STATUSES:
        return {"source_id": source_id, "status": source.status, "skipped": "already running"}
    dispatch.start_reprocess(source)
    return {"source_id": source_id, "status": "queued", "task_id": source.task_id}


@dataclass
class CrawlTally:
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    pages_done: int = 0
    pages_found: int = 0
    rendered: int = 0
    unsettled: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "pages_crawled": self.new + self.changed + self.unchanged,
            "new": self.new, "changed": self.changed, "unchanged": self.unchanged, "removed": len(self.removed),
            "pages_failed": len(self.failed), "failed": self.failed[:MAX_LISTED],
            "skipped": self.skipped[:MAX_LISTED], "removed_urls": self.removed[:MAX_LISTED],
            "complete": self.complete, "pages_found": self.pages_found,
            "pages_rendered": self.rendered, "pages_unsettled": self.unsettled, "render_refused": self.refused,
        }


def crawl_website(
    source_id: Any, *, task_id: str | None = None, url: str | None = None, chatbot_id: Any = None,
    timeout_errors: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Crawl one website source end to end; same run guarantees as ``ingest_document``."""
    outcome = lifecycle.claim_source(source_id, task_id, kind=Source.Kind.WEBSITE)
    if isinstance(outcome, lifecycle.Skip):
        return {"source_id": int(source_id), "status": outcome.status, "skipped": outcome.reason}
    claim = outcome
    source = claim.source
    mismatch = (url and url_key(url) != url_key(source.url)) or (
        chatbot_id is not None and str(chatbot_id) != str(source.chatbot_id)
    )
    if mismatch:
        lifecycle.fail_run(claim, ErrorCode.INVALID_ARGUMENT, "The task arguments do not match this source.")
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"url/chatbot_id do not match source {source_id}.")
    try:
        counts = _crawl_and_store(claim)
    except lifecycle.RunSuperseded:
        return {"source_id": source.pk, "status": "superseded"}
    except lifecycle.RunCancelled:
        lifecycle.cancel_run(claim)
        return {"source_id": source.pk, "status": Source.Status.CANCELLED}
    except ProcessingError as exc:
        lifecycle.fail_run(claim, exc.code, exc.message)
        raise
    except Exception as exc:
        if not (timeout_errors and lifecycle.caused_by(exc, timeout_errors)):
            raise
        lifecycle.reset_connection()  # the limit may have struck inside a query
        message = "Crawling took longer than the time limit and was stopped. Try fewer pages."
        lifecycle.fail_run(claim, ErrorCode.TIMEOUT, message)
        raise ProcessingError(ErrorCode.TIMEOUT, message) from None
    source = lifecycle.complete_run(claim, counts=counts)
    return {"source_id": source.pk, "status": source.status, "chunk_count": source.chunk_count,
            "pages": source.units_done, "report": {k: v for k, v in source.crawl_report.items()
                                                   if not isinstance(v, list)}}


def _page_segments(segments: Iterable[Segment], key: str) -> Iterator[Segment]:
    first = True
    for segment in segments:
        text = clean_text(segment.text)
        if text:
            yield Segment(text, {**segment.metadata, "source_url": key}, boundary=first or segment.boundary)
            first = False


def _pdf_segments(body: bytes, page_url: str, title: str, key: str) -> Iterator[Segment]:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(body)
        tmp.flush()
        with ExtractionProcess(kind="pdf", path=tmp.name, filename="page.pdf", limits=extraction_limits(),
                               sandbox=sandbox_limits(), warm=settings.EXTRACTION_WARM_TEMPLATE) as proc:
            segments = [item for item in proc if isinstance(item, Segment)]
    for segment in _page_segments(segments, key):
        yield Segment(segment.text, {**segment.metadata, "url": page_url, "title": title}, segment.boundary)


def _previous_chunks(source: Source, key: str) -> Iterator[ChunkDraft]:
    rows = Chunk.objects.filter(source=source, is_active=True, metadata__source_url=key).order_by("ordinal")
    for text, metadata in rows.values_list("text", "metadata").iterator(chunk_size=500):
        yield ChunkDraft(text, metadata)


def _crawl_and_store(claim: lifecycle.Claim) -> dict[str, Any]:
    source = claim.source
    chunk_store.discard_staged(source.pk, keep_generation=claim.generation)
    reporter = lifecycle.RunReporter(claim)
    reporter.report(progress=1, stage="Fetching", force=True)
    options = source.crawl_options or {}
    crawl_options = CrawlOptions(
        max_pages=int(options.get("max_pages", 1)), max_depth=int(options.get("max_depth", 2)),
        include=tuple(options.get("include") or ()), exclude=tuple(options.get("exclude") or ()),
        delay=settings.SCRAPER_DELAY_SECONDS, render=source.render,
        render_min_text_chars=settings.SCRAPER_RENDER_MIN_TEXT_CHARS,
    )
    known: dict[str, dict[str, Any]] = dict(source.crawl_pages or {})
    tally = CrawlTally()
    writer = chunk_store.ChunkWriter(source, claim.generation, guard=lifecycle.claim_guard(claim))

    def on_progress(done: int, found: int) -> None:
        tally.pages_done, tally.pages_found = done, found
        percent = 5 + int(90 * done / max(found, crawl_options.max_pages, 1))
        reporter.report(progress=percent, stage=f"Crawled {done} of {found} pages", units_done=done,
                        units_total=found, unit_name="pages")

    renderer, notice = make_renderer(
        source.render, should_stop=lambda: Source.objects.filter(pk=source.pk, cancel_requested=True).exists())
    notices = [notice] if notice else []
    try:
        with make_fetcher() as fetcher:
            for event in crawl(source.url, fetcher=fetcher, options=crawl_options, known_pages=known,
                               on_progress=on_progress, renderer=renderer):
                drafts = _handle_event(event, source, known, tally)
                if drafts is not None:
                    list(writer.add_all(drafts))
    finally:
        # Every exit (done, cancelled, soft time limit, error) kills the browser's whole process group.
        if renderer is not None:
            renderer.close()
    if renderer is not None:
        tally.rendered, tally.unsettled = renderer.stats.pages, renderer.stats.unsettled
        notices += renderer.stats.notices
        if renderer.unavailable and renderer.unavailable not in " ".join(notices):
            notices.append(f"Pages could not be rendered ({renderer.unavailable}); they were read as plain HTML.")
        refused = renderer.proxy_stats.refused if renderer.proxy_stats else []
        tally.refused = [{"target": r.target[:300], "reason": r.reason} for r in refused[:MAX_LISTED]]
        logger.info("source %s: rendered %s pages (%s unsettled, peak %s MB), proxy refused %s requests",
                    source.pk, renderer.stats.pages, renderer.stats.unsettled, renderer.stats.peak_rss >> 20,
                    len(refused))
    for key in known:
        if key in tally.pages or key in tally.gone:
            continue
        if tally.complete:
            tally.removed.append(key)  # no longer linked: its chunks are not carried over
        else:
            tally.pages[key] = known[key]  # not reached this time: keep what we had
            list(writer.add_all(_previous_chunks(source, key)))
    if writer.result.chunk_count == 0:
        # Keep the report of what was tried, and name the first failure's own cause (too large,
        # timed out, blocked) rather than a generic one.
        Source.objects.filter(pk=source.pk, run_id=claim.run_id).update(crawl_report=tally.report())
        if not tally.failed:
            raise ProcessingError(ErrorCode.NO_TEXT, "No page of this website had any text to learn from.")
        first = tally.failed[0]
        code = first.get("code") or ErrorCode.FETCH_FAILED
        raise ProcessingError(code, f"No page of this website could be read: {first['error']}")
    return {
        "chunk_count": writer.result.chunk_count, "char_count": writer.result.char_count,
        "units_done": tally.new + tally.changed + tally.unchanged, "units_total": tally.pages_found or None,
        "unit_name": "pages", "crawl_report": tally.report(), "crawl_pages": tally.pages, "notices": notices,
    }


def _handle_event(event: Any, source: Source, known: dict[str, dict[str, Any]],
                  tally: CrawlTally) -> Iterable[ChunkDraft] | None:
    """Record one crawl event; return the chunk drafts it contributes, if any."""
    if isinstance(event, PageFetched):
        key = url_key(event.url) or event.url
        previous = known.get(key)
        tally.pages[key] = {"etag": event.etag, "last_modified": event.last_modified,
                            "content_hash": event.content_hash, "title": event.title[:300],
                            "lastmod": event.lastmod.isoformat() if event.lastmod else None,
                            "rendered": event.rendered}
        if previous is None:
            tally.new += 1
        elif previous.get("content_hash") == event.content_hash:
            tally.unchanged += 1
            return _previous_chunks(source, key)
        else:
            tally.changed += 1
        if event.kind == "pdf":
            segments: Iterable[Segment] = _pdf_segments(event.body, event.url, event.title, key)
        else:
            assert event.content is not None
            segments = _page_segments(event.content.segments, key)
        return chunk_segments(segments, source.chunk_size, source.chunk_overlap)
    if isinstance(event, PageUnchanged):
        key = url_key(event.url) or event.url
        tally.pages[key] = {**known.get(key, {}), "etag": event.etag or known.get(key, {}).get("etag"),
                            "last_modified": event.last_modified or known.get(key, {}).get("last_modified")}
        tally.unchanged += 1
        return _previous_chunks(source, key)
    if isinstance(event, PageGone):
        key = url_key(event.url) or event.url
        tally.gone.add(key)
        if key in known:
            tally.removed.append(key)
        tally.failed.append({"url": event.url, "status_code": event.status_code, "error": "page not found"})
    elif isinstance(event, PageFailed):
        tally.failed.append({"url": event.url, "status_code": event.status_code, "error": event.error,
                             "code": str(event.code)})
    elif isinstance(event, PageSkipped):
        tally.skipped.append({"url": event.url, "reason": event.reason, "detail": event.detail})
    elif isinstance(event, CrawlFinished):
        tally.complete = event.complete
        tally.pages_done, tally.pages_found = event.pages_done, event.pages_found
    return None
