"""Which task ids the broker still holds: waiting in a queue, or delivered and not yet acknowledged.

Tells the reaper "waiting its turn in a long queue" from "its message was lost". Only Redis can
answer (queue lists and the ``unacked`` hash, read through kombu so the key prefix applies);
for any other transport, or when the broker cannot be read, every id counts as held and the
reaper falls back to its long pending window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

SCAN_PAGE = 1000


def held_task_ids(app: Any, task_ids: Iterable[str], queues: Iterable[str]) -> set[str]:
    """The subset of ``task_ids`` whose message the broker still has."""
    wanted = {tid for tid in task_ids if tid}
    if not wanted:
        return set()
    if not app.conf.broker_url.startswith(("redis://", "rediss://")):
        return wanted
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            return _held_in_redis(channel, wanted, list(queues))
    except Exception as exc:  # broker down or unreadable: claim nothing is lost
        logger.warning("could not read the broker to look for lost messages: %s", exc)
        return wanted


def _held_in_redis(channel: Any, wanted: set[str], queues: list[str]) -> set[str]:
    client = channel.client
    # kombu's prefixed client adds the deployment's key prefix to the commands kombu itself uses,
    # which do not include LRANGE and HSCAN: add it here.
    prefix = getattr(client, "global_keyprefix", "")
    found: set[str] = set()

    def look(raw: bytes | str) -> None:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        for tid in wanted - found:
            if tid in text:
                found.add(tid)

    # Queues first, then unacked: a message delivered between the two reads moved from the first
    # place to the second, so it is seen in one of them.
    for queue in queues:
        for priority in channel.priority_steps:
            key = prefix + channel._q_for_pri(queue, priority)
            start = 0
            while found != wanted:
                page = client.lrange(key, start, start + SCAN_PAGE - 1)
                for raw in page:
                    look(raw)
                if len(page) < SCAN_PAGE:
                    break
                start += SCAN_PAGE
    if found != wanted:
        for _, raw in client.hscan_iter(prefix + channel.unacked_key, count=SCAN_PAGE):
            look(raw)
            if found == wanted:
                break
    return found
