"""Beat scheduler that sends each periodic task once per slot, even when two beats run by mistake.

django-celery-beat's ``DatabaseScheduler`` plus a lock per task in the shared database: before
sending, a beat takes the task's lock for 80% of the time to its next run. A second beat (two
``worker -B`` on one database) finds the lock held and skips that slot. The database, not Redis,
holds the lock because it is what two schedulers sharing a schedule always have in common.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from botsmith.models import ScheduleLock
from botsmith.telemetry import Telemetry

logger = logging.getLogger(__name__)

LOCK_SHARE_OF_PERIOD = 0.8
MIN_LOCK = timedelta(seconds=1)
MAX_LOCK = timedelta(days=1)


def lock_duration(schedule: Any, now: Any) -> timedelta:
    """80% of the time from now to the schedule's next run, within [1 s, 1 day]."""
    try:
        remaining = schedule.remaining_estimate(now)
    except (AttributeError, TypeError, NotImplementedError):
        remaining = timedelta(minutes=1)
    return min(max(remaining * LOCK_SHARE_OF_PERIOD, MIN_LOCK), MAX_LOCK)


def acquire_slot(name: str, duration: timedelta) -> bool:
    """True when this caller may send ``name`` now; False when another scheduler just did."""
    now = timezone.now()
    until = now + duration
    with transaction.atomic():
        if ScheduleLock.objects.filter(name=name, locked_until__lte=now).update(locked_until=until):
            return True
        try:
            with transaction.atomic():
                ScheduleLock.objects.create(name=name, locked_until=until)
        except IntegrityError:
            return False
    return True


class LockingDatabaseScheduler(DatabaseScheduler):
    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        now = timezone.now()
        if not acquire_slot(entry.name, lock_duration(entry.schedule, now)):
            logger.info("beat: %s already sent for this slot by another scheduler; skipping", entry.name)
            return None
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        """Also publish the tick (time and count) for /api/health/ details and /metrics."""
        result = super().tick(*args, **kwargs)
        telemetry = Telemetry.for_app(self.app)
        if telemetry is not None:
            try:
                telemetry.record_beat_tick()
            except redis.RedisError as exc:
                logger.warning("beat: could not publish the tick: %s", exc)
        return result
