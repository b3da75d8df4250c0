"""Default periodic tasks are seeded once and an admin's edits survive migrate."""

from __future__ import annotations

import json

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from botsmith.schedules import seed_periodic_task

pytestmark = pytest.mark.django_db


def test_cleanup_daily_is_seeded_at_two_utc_with_90_days():
    task = PeriodicTask.objects.get(name="cleanup-daily")
    assert task.task == "analytics.tasks.cleanup_old_data"
    assert json.loads(task.kwargs) == {"days": 90}
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("0", "2", "UTC")


def test_admin_edit_survives_reseeding_and_migrate():
    task = PeriodicTask.objects.get(name="cleanup-daily")
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="4", timezone="UTC")
    task.kwargs = json.dumps({"days": 30})
    task.enabled = False
    task.save()

    seed_periodic_task(django_apps, name="cleanup-daily", task="analytics.tasks.cleanup_old_data",
                       kwargs={"days": 90}, crontab={"minute": "0", "hour": "2"})
    call_command("migrate", verbosity=0)

    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("30", "4")
    assert json.loads(task.kwargs) == {"days": 30}
    assert task.enabled is False
    assert PeriodicTask.objects.filter(name="cleanup-daily").count() == 1
