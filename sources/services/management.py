"""Owner actions on a source: cancel, delete."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from botsmith.celery import app
from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Source
from sources.services import dispatch
from sources.services.stored_files import storage_errors

logger = logging.getLogger(__name__)


def request_cancel(source: Source) -> Source:
    """A pending source is cancelled at once; a running one stops at its next page and ends ``cancelled``."""
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        if source.is_finished:
            raise ProcessingError(ErrorCode.INVALID_ARGUMENT, f"This source has already {source.status}.")
        if source.status in (Source.Status.QUEUED, Source.Status.PENDING):
            source.status = Source.Status.CANCELLED
            source.stage = "Cancelled"
            source.finished_at = timezone.now()
        else:
            source.cancel_requested = True
            source.stage = "Cancelling"
        source.save()
        if source.is_finished:
            transaction.on_commit(lambda: dispatch.release_queued(source.chatbot_id), robust=True)
    if source.task_id:
        # Not terminate=True: killing a pool child mid-write is what the cancel flag avoids.
        app.control.revoke(source.task_id)
    return source


def delete_source(source: Source) -> None:
    """Remove the source, its chunks, its refresh schedule and (after commit) its stored file."""
    if source.task_id and source.status in Source.ACTIVE_STATUSES:
        app.control.revoke(source.task_id)
    name = source.file.name
    storage = source.file.storage
    chatbot_id = source.chatbot_id
    with transaction.atomic():
        if source.periodic_task_id:
            PeriodicTask.objects.filter(pk=source.periodic_task_id).delete()
        source.delete()
        transaction.on_commit(lambda: dispatch.release_queued(chatbot_id), robust=True)
        if name:
            transaction.on_commit(lambda: _delete_file(storage, name))


def _delete_file(storage, name: str) -> None:  # type: ignore[no-untyped-def]
    try:
        with storage_errors():
            storage.delete(name)
    except OSError:
        logger.exception("could not delete stored file %s; cleanup will remove it", name)
