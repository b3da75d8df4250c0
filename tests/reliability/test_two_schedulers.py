"""Two `worker -B` on one database: a periodic task still runs once per slot."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from botsmith.beat import acquire_slot, lock_duration

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_slot_is_taken_once_and_freed_after_its_duration():
    assert acquire_slot("job", timedelta(seconds=0.3)) is True
    assert acquire_slot("job", timedelta(seconds=0.3)) is False
    time.sleep(0.35)
    assert acquire_slot("job", timedelta(seconds=0.3)) is True


def test_lock_lasts_most_of_the_period():
    from celery.schedules import crontab, schedule

    now = timezone.now()
    assert abs(lock_duration(schedule(timedelta(seconds=10)), now) - timedelta(seconds=8)) < timedelta(seconds=0.5)
    daily = lock_duration(crontab(minute="0", hour="2"), now)
    assert timedelta(seconds=1) <= daily <= timedelta(days=1)


@pytest.mark.integration
@pytest.mark.reliability
def test_two_beats_send_a_periodic_task_once_per_interval(broker):
    """The lock is in the database, so it holds whichever broker carries the task."""
    every = 4
    interval = IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="ping-often", task="botsmith.ping", interval=interval)
    first = broker.start_worker(beat=True, concurrency=1)
    second = broker.start_worker(beat=True, concurrency=1)
    started = timezone.now()
    window = 3 * every + 1
    try:
        time.sleep(window)
    finally:
        first.stop()
        second.stop()
        PeriodicTask.objects.filter(name="ping-often").update(enabled=False)

    runs = TaskResult.objects.filter(task_name="botsmith.ping", date_created__gte=started).count()
    # One run per slot (plus one at start-up when the first beat fires at once); two unlocked
    # schedulers would double this.
    assert 2 <= runs <= window // every + 1, runs
