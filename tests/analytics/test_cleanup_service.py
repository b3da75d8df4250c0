"""purge_old_data / run_cleanup in-process: strict arguments, batches, each kind of data, dry run, records."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from analytics.models import CleanupRun
from analytics.services.cleanup import purge_old_data, run_cleanup, validate_days
from botsmith.errors import ErrorCode, ProcessingError
from botsmith.models import Conversation, Message
from notifications.models import Notification
from tests.analytics.factories_analytics import conversation_aged, source
from tests.factories import ChatbotFactory, UserFactory

pytestmark = pytest.mark.django_db

BAD_DAYS = [None, 0, -1, "abc", "30", 1.5, 30.0, True, False, [30], 36501]


@pytest.mark.parametrize("days", BAD_DAYS)
def test_bad_days_are_refused_and_nothing_is_deleted(days):
    old = conversation_aged(ChatbotFactory(), 400)

    with pytest.raises(ProcessingError) as info:
        purge_old_data(days)

    assert info.value.code == ErrorCode.INVALID_ARGUMENT
    assert "days" in info.value.message
    assert Conversation.objects.filter(pk=old.pk).exists()


@override_settings(CLEANUP_MIN_DAYS=7)
def test_minimum_days_comes_from_settings():
    with pytest.raises(ProcessingError, match="below the minimum of 7"):
        validate_days(6)
    assert validate_days(7) == 7


@pytest.mark.parametrize("dry_run", ["false", 0, None, "yes"])
def test_dry_run_must_be_a_boolean(dry_run):
    conversation_aged(ChatbotFactory(), 400)
    with pytest.raises(ProcessingError, match="dry_run"):
        purge_old_data(30, dry_run)
    assert Conversation.objects.count() == 1


def test_deletes_in_small_batches_until_done():
    chatbot = ChatbotFactory()
    old = [conversation_aged(chatbot, 31 + i, messages=3) for i in range(7)]
    recent = conversation_aged(chatbot, 29, messages=3)

    counts = purge_old_data(30, batch_size=2)

    assert (counts.conversations, counts.messages) == (7, 21)
    assert not Conversation.objects.filter(pk__in=[c.pk for c in old]).exists()
    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent.pk]
    assert Message.objects.count() == 3
    assert counts.per_chatbot == {str(chatbot.pk): {"retention_days": None, "conversations": 7, "messages": 21}}


def test_read_notifications_older_than_days_only():
    user = UserFactory()
    now = timezone.now()
    old_read = Notification.objects.create(user=user, title="old read", read_at=now)
    old_unread = Notification.objects.create(user=user, title="old unread")
    new_read = Notification.objects.create(user=user, title="new read", read_at=now)
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(created_at=now - timedelta(days=31))

    assert purge_old_data(30, dry_run=True).notifications == 1
    assert purge_old_data(30).notifications == 1

    assert set(Notification.objects.values_list("pk", flat=True)) == {old_unread.pk, new_read.pk}


@override_settings(CELERY_RESULT_EXPIRES=timedelta(days=7))
def test_task_results_older_than_the_result_expiry():
    old = TaskResult.objects.create(task_id="old", status="SUCCESS")
    TaskResult.objects.create(task_id="recent", status="SUCCESS")
    TaskResult.objects.filter(pk=old.pk).update(date_done=timezone.now() - timedelta(days=8))

    assert purge_old_data(90).task_results == 1

    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["recent"]


def _stored(name: str, age_seconds: float) -> str:
    stored = default_storage.save(name, ContentFile(b"data"))
    stamp = time.time() - age_seconds
    os.utime(default_storage.path(stored), (stamp, stamp))
    return stored


def test_orphan_files_older_than_an_hour_are_removed_referenced_and_young_ones_stay():
    chatbot = ChatbotFactory()
    orphan = _stored(f"sources/{chatbot.pk}/orphan.txt", 2 * 3600)
    young = _stored(f"sources/{chatbot.pk}/young.txt", 60)
    kept = _stored(f"sources/{chatbot.pk}/kept.txt", 2 * 3600)
    outside = _stored("elsewhere/old.txt", 2 * 3600)
    source(chatbot, file=kept)

    assert purge_old_data(30, dry_run=True).files == 1
    assert default_storage.exists(orphan)
    assert purge_old_data(30).files == 1

    assert not default_storage.exists(orphan)
    assert all(default_storage.exists(name) for name in (young, kept, outside))
    for name in (young, kept, outside):
        default_storage.delete(name)


def test_run_cleanup_records_a_failed_run_for_refused_input():
    with pytest.raises(ProcessingError):
        run_cleanup("abc", task_id="t-1")

    run = CleanupRun.objects.get(task_id="t-1")
    assert run.status == CleanupRun.Status.FAILED
    assert run.arguments == {"days": "abc", "dry_run": False}
    assert run.days is None and "whole number" in run.error_message and run.finished_at


def test_run_cleanup_records_counts_and_a_retry_reuses_the_row():
    chatbot = ChatbotFactory(retention_days=5)
    conversation_aged(chatbot, 6, messages=2)

    run_cleanup(30, task_id="t-2")
    run, counts = run_cleanup(30, task_id="t-2")

    assert CleanupRun.objects.filter(task_id="t-2").count() == 1
    run.refresh_from_db()
    assert run.status == CleanupRun.Status.COMPLETED and run.days == 30 and run.dry_run is False
    assert (run.conversations, run.messages) == (0, 0)  # the second pass found nothing left
    assert counts.conversations == 0
