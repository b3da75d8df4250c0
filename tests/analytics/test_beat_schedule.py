"""A periodic task edited in the database runs in a live `worker -B`, and later edits apply without a restart."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from tests.analytics.factories_analytics import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TASK = "analytics.tasks.cleanup_old_data"


def test_cleanup_schedule_edited_to_every_two_seconds_runs_and_edits_apply_live(start_worker):
    crontab, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="2", day_of_week="*", day_of_month="*",
                                                       month_of_year="*", timezone="UTC")
    task, _ = PeriodicTask.objects.get_or_create(name="cleanup-daily", defaults={
        "task": TASK, "kwargs": json.dumps({"days": 90}), "crontab": crontab})
    PeriodicTask.objects.exclude(pk=task.pk).update(enabled=False)  # only this one fires during the test
    # The edit an operator makes in the admin: every 2 seconds instead of 02:00 daily.
    task.crontab = None
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    task.kwargs = json.dumps({"days": 90})
    task.enabled = True
    task.save()
    started = timezone.now()

    worker = start_worker(beat=True, concurrency=1)
    try:
        first = wait_for(lambda: TaskResult.objects.filter(task_name=TASK, status="SUCCESS",
                                                           date_created__gte=started).first(), timeout=40)
        assert "'days': 90" in first.task_kwargs

        task.refresh_from_db()
        task.kwargs = json.dumps({"days": 45})
        task.save()  # bumps PeriodicTasks.changed: the running beat reloads its schedule
        changed = wait_for(lambda: TaskResult.objects.filter(task_name=TASK, status="SUCCESS",
                                                             task_kwargs__contains="'days': 45").first(), timeout=40)
        assert '"days": 45' in changed.result and changed.date_done > first.date_done
    finally:
        PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
        worker.stop()
