"""Fair queues: a chatbot has at most MAX_SOURCES_IN_FLIGHT_PER_CHATBOT sources in flight; the rest wait `queued`."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from sources.models import Source
from sources.services import dispatch, lifecycle, management
from sources.services.reaper import reap_stuck_sources
from tests.factories import ChatbotFactory
from tests.sources.helpers_sources import upload, wait_for_source


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Record what would reach the broker instead of sending it (no worker in these tests)."""
    ids: list[int] = []
    monkeypatch.setattr(dispatch, "_send", lambda source: ids.append(source.pk))
    return ids


def _upload_many(client, chatbot, n: int, first: int = 0) -> list[int]:
    files = [(f"doc-{i}.txt", f"text number {i}".encode()) for i in range(first, first + n)]
    response = upload(client, chatbot.pk, *files)
    assert response.status_code == 202, response.data
    return [entry["source_id"] for entry in response.data["sources"]]


def _statuses(ids: list[int]) -> list[str]:
    by_id = dict(Source.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[i] for i in ids]


@pytest.mark.django_db(transaction=True)
def test_a_burst_waits_queued_with_its_position_beyond_the_cap(api_client, chatbot, sent, settings):
    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 2

    ids = _upload_many(api_client, chatbot, 5)

    assert _statuses(ids) == ["pending", "pending", "queued", "queued", "queued"]
    assert sent == ids[:2]
    listed = api_client.get(f"/api/chatbots/{chatbot.pk}/sources/").data["results"]
    positions = {row["id"]: row["queue_position"] for row in listed}
    assert [positions[i] for i in ids] == [None, None, 1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_another_chatbot_is_admitted_while_the_first_is_full(api_client, chatbot, user, sent, settings):
    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 2
    a_ids = _upload_many(api_client, chatbot, 4)
    other = ChatbotFactory(owner=user)

    b_ids = _upload_many(api_client, other, 1)

    assert _statuses(b_ids) == ["pending"]
    assert sent == [*a_ids[:2], *b_ids]


@pytest.mark.django_db(transaction=True)
def test_a_finished_run_releases_the_oldest_queued_source_once(api_client, chatbot, sent, settings):
    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 2
    ids = _upload_many(api_client, chatbot, 4)

    with transaction.atomic():
        lifecycle.finish_source(Source.objects.get(pk=ids[0]), Source.Status.COMPLETED, stage="Done")

    assert _statuses(ids) == ["completed", "pending", "pending", "queued"]
    assert sent == [ids[0], ids[1], ids[2]]
    assert Source.objects.get(pk=ids[3]).stage == "Queued"


@pytest.mark.django_db(transaction=True)
def test_cancel_ends_a_queued_source_at_once_and_a_cancelled_pending_one_frees_its_slot(api_client, chatbot, sent,
                                                                                         settings):
    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 1
    ids = _upload_many(api_client, chatbot, 3)

    management.request_cancel(Source.objects.get(pk=ids[2]))
    management.request_cancel(Source.objects.get(pk=ids[0]))

    assert _statuses(ids) == ["cancelled", "pending", "cancelled"]
    assert sent == [ids[0], ids[1]]


@pytest.mark.django_db(transaction=True)
def test_the_reaper_releases_sources_a_crash_left_queued(api_client, chatbot, sent, settings):
    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 1
    ids = _upload_many(api_client, chatbot, 2)
    # A run killed without a finish: the reaper fails it (attempts used up) and its slot goes to the next.
    Source.objects.filter(pk=ids[0]).update(status=Source.Status.PROCESSING, heartbeat_at=None, attempts=99)

    reap_stuck_sources()

    assert _statuses(ids) == ["failed", "pending"]
    assert sent == ids


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_one_chatbots_burst_does_not_starve_another(api_client, chatbot, user, celery_worker, settings):
    cap = settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT  # the worker runs with the same default
    # The proof: 300 documents of chatbot A waiting (20 per upload request, the form's limit).
    a_ids = [source_id for first in range(0, 300, 20) for source_id in _upload_many(api_client, chatbot, 20, first)]
    other = ChatbotFactory(owner=user)

    (b_id,) = _upload_many(api_client, other, 1)
    b = wait_for_source(b_id, timeout=60)
    deadline = time.monotonic() + 900
    while Source.objects.filter(pk__in=a_ids, status__in=Source.ACTIVE_STATUSES).exists():
        assert time.monotonic() < deadline, _statuses(a_ids)
        time.sleep(0.2)

    assert b.status == Source.Status.COMPLETED, b.error_message
    a = list(Source.objects.filter(pk__in=a_ids))
    # Only the sources already in flight when B arrived could start before it.
    started_between = [s for s in a if b.created_at < s.started_at < b.started_at]
    assert len(started_between) <= cap, [(s.pk, s.started_at) for s in started_between]
    assert len(set(a_ids)) == len(a) == 300
    assert [s.status for s in a] == ["completed"] * len(a_ids)
    assert all(s.attempts == 1 for s in a), [(s.pk, s.attempts) for s in a]
