"""cleanup_old_data through a real worker on Redis: exactly what is older than `days` goes, refusals fail unretried."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_celery_results.models import TaskResult

from analytics.models import CleanupRun
from analytics.tasks import cleanup_old_data
from botsmith.models import Conversation, Message
from notifications.models import Notification
from tests.analytics.factories_analytics import conversation_aged, source
from tests.factories import ChatbotFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def _old_file(name: str) -> str:
    stored = default_storage.save(name, ContentFile(b"left behind"))
    stamp = time.time() - 3 * 3600
    os.utime(default_storage.path(stored), (stamp, stamp))
    return stored


def test_cleanup_removes_exactly_what_is_older_than_days(celery_worker):
    default_bot = ChatbotFactory()
    short_bot = ChatbotFactory(retention_days=5)
    long_bot = ChatbotFactory(retention_days=60)
    kept = [conversation_aged(default_bot, 10), conversation_aged(default_bot, 29.9),
            conversation_aged(short_bot, 3), conversation_aged(long_bot, 45)]
    doomed = [conversation_aged(default_bot, 30.1, messages=3), conversation_aged(default_bot, 200, messages=1),
              conversation_aged(short_bot, 7, messages=2), conversation_aged(long_bot, 61, messages=4)]
    kept_messages = _ids(Message.objects.filter(conversation__in=kept))
    user = UserFactory()
    old_read = Notification.objects.create(user=user, title="old", read_at=timezone.now())
    old_unread = Notification.objects.create(user=user, title="old unread")
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(
        created_at=timezone.now() - timedelta(days=40))
    old_result = TaskResult.objects.create(task_id="expired-result", status="SUCCESS")
    TaskResult.objects.filter(pk=old_result.pk).update(date_done=timezone.now() - timedelta(days=8))
    orphan = _old_file(f"sources/{default_bot.pk}/orphan.txt")
    referenced = _old_file(f"sources/{default_bot.pk}/referenced.txt")
    source(default_bot, file=referenced)
    expected = {"conversations": 4, "messages": 10, "notifications": 1, "task_results": 1, "files": 1}

    dry = cleanup_old_data.delay(days=30, dry_run=True).get(timeout=20)

    assert {k: dry[k] for k in expected} == expected
    assert Conversation.objects.count() == 8 and Notification.objects.count() == 2
    assert default_storage.exists(orphan) and TaskResult.objects.filter(task_id="expired-result").exists()

    result = cleanup_old_data.delay(days=30)
    counts = result.get(timeout=20)

    assert {k: counts[k] for k in expected} == expected
    assert _ids(Conversation.objects.all()) == _ids(Conversation.objects.filter(pk__in=[c.pk for c in kept]))
    assert not Conversation.objects.filter(pk__in=[c.pk for c in doomed]).exists()
    assert _ids(Message.objects.all()) == kept_messages
    assert _ids(Notification.objects.all()) == {old_unread.pk}
    assert not TaskResult.objects.filter(task_id="expired-result").exists()
    assert not default_storage.exists(orphan) and default_storage.exists(referenced)
    assert counts["per_chatbot"] == {
        str(default_bot.pk): {"retention_days": None, "conversations": 2, "messages": 4},
        str(short_bot.pk): {"retention_days": 5, "conversations": 1, "messages": 2},
        str(long_bot.pk): {"retention_days": 60, "conversations": 1, "messages": 4},
    }
    run = CleanupRun.objects.get(task_id=result.id)
    assert (run.status, run.days, run.dry_run, run.conversations, run.messages, run.files) == (
        "completed", 30, False, 4, 10, 1)
    assert run.per_chatbot == counts["per_chatbot"] and run.finished_at
    dry_run = CleanupRun.objects.get(pk=dry["cleanup_run_id"])
    assert (dry_run.dry_run, dry_run.status, dry_run.conversations, dry_run.messages) == (True, "completed", 4, 10)
    assert TaskResult.objects.get(task_id=result.id).status == "SUCCESS"

    again = cleanup_old_data.delay(days=30).get(timeout=20)

    assert {k: again[k] for k in expected} == dict.fromkeys(expected, 0)
    assert Conversation.objects.count() == 4
    default_storage.delete(referenced)


@pytest.mark.parametrize("days", [0, -1, "abc", None, "30", 1.5, True])
def test_dangerous_days_fail_readably_delete_nothing_and_are_not_retried(celery_worker, days):
    conversation_aged(ChatbotFactory(), 400)

    result = cleanup_old_data.delay(days=days)
    result.get(timeout=20, propagate=False)

    assert result.state == "FAILURE"
    message = str(result.result)
    assert "days" in message and ("minimum" in message or "whole number" in message or "required" in message)
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == "FAILURE" and "ProcessingError" in row.traceback
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2
    run = CleanupRun.objects.get(task_id=result.id)
    assert run.status == "failed" and run.error_message == message
    time.sleep(0.5)
    assert TaskResult.objects.get(task_id=result.id).status == "FAILURE"
    log = celery_worker.log_path.read_text(errors="replace")
    assert f"[{result.id}] retry" not in log
