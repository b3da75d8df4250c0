"""Redis transport that survives a broker restart while a late-acknowledged task is running.

kombu 5.7's reconnection first runs ``Connection.collect()``, which clears ``transport.client``,
then closes the old channel, which restores unacknowledged messages and needs the connection
parameters that were just cleared: ``AttributeError: 'NoneType' object has no attribute
'hostname'`` kills the worker (reproduced with a plain Celery app and a restarted Redis). This
channel keeps its parameters so both steps work. Registered as the ``redis`` transport alias;
remove when kombu fixes the ordering (tests/reliability/test_broker_outages.py proves the need).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conninfo = self.connection.client

    def _connparams(self, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport.client is not None or self._conninfo is None:
            return super()._connparams(asynchronous)
        transport.client = self._conninfo
        try:
            return super()._connparams(asynchronous)
        finally:
            transport.client = None


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT_ALIASES["redis"] = "botsmith.broker:Transport"
