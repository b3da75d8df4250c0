"""A server-side SVG bar chart of a report's day series, for the admin (no JavaScript, escaped values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

HEIGHT = 160
BAR_WIDTH = 8
GAP = 4
COLORS = {"messages": "#417690", "conversations": "#f5a623"}


def _count(row: Mapping[str, Any], key: str) -> int:
    try:
        return max(int(row.get(key) or 0), 0)
    except (TypeError, ValueError):
        return 0


def daily_bar_chart(rows: Sequence[Mapping[str, Any]]) -> SafeString:
    """Messages and conversations per day as grouped bars, one <title> tooltip per bar."""
    if not rows:
        return format_html("<p>{}</p>", "No days in this report.")
    peak = max(max(_count(r, "messages"), _count(r, "conversations")) for r in rows) or 1
    step = 2 * BAR_WIDTH + GAP
    bars = []
    for i, row in enumerate(rows):
        for j, key in enumerate(("messages", "conversations")):
            value = _count(row, key)
            height = round(HEIGHT * value / peak)
            bars.append((i * step + j * BAR_WIDTH, HEIGHT - height, BAR_WIDTH - 1, height, COLORS[key],
                         str(row.get("date", "")), key, value))
    width = len(rows) * step
    body = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
        ((x, y, w, h, color, day, value, key) for x, y, w, h, color, day, key, value in bars),
    )
    legend = format_html_join(" ", '<span style="color:{}">&#9632; {}</span>', ((c, k) for k, c in COLORS.items()))
    return format_html(
        '<div><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'width="{}" height="{}" style="max-width:100%;background:#fafafa">{}</svg><div>{} (peak {} per day; '
        "{} to {})</div></div>",
        "Messages and conversations per day", width, HEIGHT, width, HEIGHT, body, legend, peak,
        str(rows[0].get("date", "")), str(rows[-1].get("date", "")),
    )
