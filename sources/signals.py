"""Signals other apps listen to, so ``sources`` never imports them.

``chunks_activated`` is sent inside the transaction that made a new chunk generation visible
(``sender=Source``, ``source_id=...``); receivers that start background work must defer it with
``transaction.on_commit``.
"""

from django.dispatch import Signal

chunks_activated = Signal()
