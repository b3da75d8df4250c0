"""Seeding of default periodic tasks: created once, never updated, so admin edits survive.

Data migrations call ``seed_periodic_task``; a migration runs once per database, and
``get_or_create`` keeps a re-run (or a task an admin created by hand with the same name) intact.
"""

from __future__ import annotations

import json
from typing import Any


def seed_periodic_task(
    apps: Any,
    *,
    name: str,
    task: str,
    kwargs: dict[str, Any] | None = None,
    crontab: dict[str, str] | None = None,
    every_seconds: int | None = None,
    description: str = "",
    queue: str | None = None,
) -> None:
    """Create the periodic task ``name`` unless it exists; never touch an existing one."""
    periodic_task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    if periodic_task_model.objects.filter(name=name).exists():
        return
    schedule: dict[str, Any] = {}
    if crontab is not None:
        crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
        fields = {"minute": "0", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
        fields.update(crontab)
        schedule["crontab"], _ = crontab_model.objects.get_or_create(timezone="UTC", **fields)
    elif every_seconds is not None:
        interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
        schedule["interval"], _ = interval_model.objects.get_or_create(every=every_seconds, period="seconds")
    else:
        raise ValueError("A periodic task needs a crontab or an interval.")
    periodic_task_model.objects.create(
        name=name,
        task=task,
        kwargs=json.dumps(kwargs or {}),
        description=description,
        queue=queue,
        enabled=True,
        **schedule,
    )


def remove_periodic_task(apps: Any, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
