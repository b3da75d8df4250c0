"""What RabbitMQ can tell about its queues without taking a message: depth and consumers, per queue.

A passive ``queue.declare`` answers both in one round trip and creates nothing. RabbitMQ cannot show a
queued message without delivering it, so the age of the oldest waiting message is unknown here
(health details and /metrics report 0 for it), and so are the task ids of queued messages
(``sources.services.queue_state`` then counts every id as held).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from amqp.exceptions import NotFound

from .telemetry import QueueState, is_amqp_url

__all__ = ["broker_answers", "is_amqp_url", "queue_states"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0


def queue_states(app: Any, names: Iterable[str]) -> dict[str, QueueState]:
    """Depth of each queue (0 for one not declared yet). Raises the connection error when RabbitMQ is down."""
    states: dict[str, QueueState] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        channel = conn.channel()
        try:
            for name in names:
                try:
                    _, depth, _ = channel.queue_declare(queue=name, passive=True)
                except NotFound:
                    # RabbitMQ closes the channel on a missing queue: the queue is empty, open another.
                    channel = conn.channel()
                    depth = 0
                states[name] = QueueState(int(depth), None)
        finally:
            try:
                channel.close()
            except Exception:  # noqa: S110 - closing a channel of a dropped connection; nothing to keep
                pass
    return states


def broker_answers(app: Any) -> bool:
    """One connection attempt with a short timeout: the readiness check of a non-Redis broker."""
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    return True
