"""Create-and-enqueue: gives a source a task id and sends its processing task.

Tasks are sent by name (routes apply by name), so no service imports ``sources.tasks`` and the
reaper task can requeue through this module without an import cycle.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from botsmith.celery import app
from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Source
from sources.services import fairness

logger = logging.getLogger(__name__)

PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class BrokerUnavailable(Exception):
    """The task could not be queued: the broker is down."""


PROCESS_DOCUMENT = "sources.tasks.process_document"
SCRAPE_WEBSITE = "sources.tasks.scrape_website"


def task_name_for(source: Source) -> str:
    return SCRAPE_WEBSITE if source.kind == Source.Kind.WEBSITE else PROCESS_DOCUMENT


def prepare_run(source: Source) -> str:
    """Reset a source for a new run and give it a fresh task id (caller saves)."""
    source.task_id = str(uuid.uuid4())
    source.status = Source.Status.QUEUED  # publish() admits it when its chatbot has a free slot
    source.progress = 0
    source.stage = "Queued"
    source.attempts = 0
    source.cancel_requested = False
    source.error_code = ""
    source.error_message = ""
    source.finished_at = None
    return source.task_id


def publish(source: Source) -> None:
    """Admit the chatbot's queued sources into its free slots and send them (call after the source row
    is committed); ``source`` stays ``queued`` when its chatbot has none free. Raises BrokerUnavailable
    when ``source`` itself could not be sent."""
    failure: BrokerUnavailable | None = None
    admitted_ids = set()
    for admitted in fairness.take(source.chatbot_id):
        admitted_ids.add(admitted.pk)
        try:
            _send(admitted)
        except BrokerUnavailable as exc:
            fairness.put_back(admitted)
            if admitted.pk == source.pk:
                failure = exc
    if source.pk not in admitted_ids:
        # Admitted by an earlier call of the same batch (pending, perhaps already running), or still queued.
        current = Source.objects.filter(pk=source.pk).values_list("status", flat=True).first()
        if current in fairness.IN_FLIGHT:
            source.status = Source.Status.PENDING
        elif current is not None:
            source.status = current
    elif failure is None:
        source.status = Source.Status.PENDING
    if failure is not None:
        raise failure


def release_queued(chatbot_id: int | None = None) -> int:
    """Fill free slots with queued sources: of one chatbot, or of every waiting chatbot in turn."""
    sent = 0
    for bot in [chatbot_id] if chatbot_id is not None else fairness.chatbots_waiting():
        for admitted in fairness.take(bot):
            try:
                _send(admitted)
                sent += 1
            except BrokerUnavailable:
                fairness.put_back(admitted)
    return sent


def _send(source: Source) -> None:
    try:
        app.send_task(
            task_name_for(source), kwargs={"source_id": source.pk}, task_id=source.task_id,
            retry=True, retry_policy=PUBLISH_RETRY_POLICY,
        )
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.error("could not queue source %s (task %s): %s", source.pk, source.task_id, exc)
        raise BrokerUnavailable(str(exc)) from exc


def queue_for(kind: str) -> str:
    """The queue a source kind's task is routed to."""
    name = SCRAPE_WEBSITE if kind == Source.Kind.WEBSITE else PROCESS_DOCUMENT
    route = app.conf.task_routes.get(name) or {}
    return str(route.get("queue") or app.conf.task_default_queue)


def requeue_locked(source: Source) -> None:
    """Reaper path, inside the caller's transaction holding the row lock: reset a stuck source to
    pending with a new task id and send it after commit (a broker outage leaves it pending for
    the next reaper pass)."""
    attempts = source.attempts
    prepare_run(source)
    source.attempts = attempts  # keep counting: a source that keeps dying must end
    source.stage = "Requeued after a lost worker"
    source.save()
    transaction.on_commit(lambda: _publish_quietly(source))


def requeue(source_id: int) -> None:
    with transaction.atomic():
        requeue_locked(Source.objects.select_for_update().get(pk=source_id))


def _publish_quietly(source: Source) -> None:
    try:
        publish(source)
    except BrokerUnavailable:
        pass  # still pending: the next reaper pass tries again


def start_reprocess(source: Source) -> Source:
    if source.status in Source.ACTIVE_STATUSES:
        raise ProcessingError(ErrorCode.INVALID_ARGUMENT, "This source is already queued or processing.")
    previous = {f: getattr(source, f) for f in ("status", "stage", "task_id", "error_code", "error_message",
                                                  "finished_at", "attempts", "progress")}
    with transaction.atomic():
        prepare_run(source)
        source.save()
    try:
        publish(source)
    except BrokerUnavailable:
        for field, value in previous.items():
            setattr(source, field, value)
        source.save()
        raise
    return source
