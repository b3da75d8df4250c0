"""Percentiles computed in the database: percentile_cont on PostgreSQL, ordered single-row reads elsewhere.

Both give the same linear interpolation between the closest ranks (like ``statistics.quantiles``
with ``method="inclusive"``), so a report reads the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from typing import Any

from django.db import connections
from django.db.models import Aggregate, FloatField, QuerySet


class PercentileCont(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(queryset: QuerySet[Any], field: str, fraction: float, count: int) -> float | None:
    """The ``fraction`` percentile of ``field`` (a column or an annotation) over ``count`` non-null rows."""
    if count <= 0:
        return None
    if connections[queryset.db].vendor == "postgresql":
        value = queryset.order_by().aggregate(p=PercentileCont(field, fraction))["p"]
        return None if value is None else float(value)
    position = (count - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    ordered = queryset.order_by(field, "pk").values_list(field, flat=True)
    low_value = float(ordered[low])
    high_value = low_value if high == low else float(ordered[high])
    return low_value + (high_value - low_value) * (position - low)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
