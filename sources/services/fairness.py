"""Fair queues between chatbots: at most ``MAX_SOURCES_IN_FLIGHT_PER_CHATBOT`` sources of one chatbot in flight.

A source starts ``queued`` in the database. ``take()`` moves a chatbot's oldest queued sources to
``pending`` while it has free slots (``pending`` + ``processing`` below the cap), under a lock on the
chatbot row, so the cap holds across web processes and worker hosts. Only ``pending`` sources are in the
broker, so one chatbot's burst puts at most ``cap`` messages ahead of anyone else's. Slots free up when a
run finishes (``finish_source`` releases after commit), when an owner cancels or deletes, and in the
reaper's sweep, which also frees the slots of killed runs it fails and releases anything a crash left.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from botsmith.models import Chatbot
from sources.models import Source

IN_FLIGHT = (Source.Status.PENDING, Source.Status.PROCESSING)


def take(chatbot_id: int) -> list[Source]:
    """Move this chatbot's oldest queued sources to ``pending`` while it has free slots; return them."""
    cap = settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT
    with transaction.atomic():
        # The lock serialises admissions of one chatbot; other chatbots proceed in parallel.
        Chatbot.objects.select_for_update().filter(pk=chatbot_id).values_list("pk").first()
        queued = Source.objects.filter(chatbot_id=chatbot_id, status=Source.Status.QUEUED).order_by("pk")
        if cap > 0:
            free = cap - Source.objects.filter(chatbot_id=chatbot_id, status__in=IN_FLIGHT).count()
            if free <= 0:
                return []
            queued = queued[:free]
        ids = list(queued.values_list("pk", flat=True))
        if not ids:
            return []
        # updated_at set by hand: .update() skips auto_now, and the reaper reads it for "stuck pending".
        Source.objects.filter(pk__in=ids, status=Source.Status.QUEUED).update(
            status=Source.Status.PENDING, updated_at=timezone.now()
        )
        return list(Source.objects.filter(pk__in=ids, status=Source.Status.PENDING).order_by("pk"))


def put_back(source: Source) -> None:
    """The broker refused the message: the source waits ``queued`` again for the next release."""
    Source.objects.filter(pk=source.pk, status=Source.Status.PENDING, task_id=source.task_id).update(
        status=Source.Status.QUEUED, updated_at=timezone.now()
    )


def chatbots_waiting() -> list[int]:
    """Chatbots with queued sources, the one waiting longest first (the sweep serves them in turn)."""
    rows = (
        Source.objects.filter(status=Source.Status.QUEUED).values("chatbot_id")
        .annotate(first=Min("pk")).order_by("first").values_list("chatbot_id", flat=True)
    )
    return list(rows)


def queue_position(source: Source) -> int | None:
    """1 for the chatbot's next source to start; None when the source is not queued."""
    if source.status != Source.Status.QUEUED:
        return None
    ahead = Source.objects.filter(chatbot_id=source.chatbot_id, status=Source.Status.QUEUED, pk__lt=source.pk)
    return ahead.count() + 1
