"""What the source admin page shows: a chunk's place in its document and the status block's rows."""

from __future__ import annotations

from typing import Any

from sources.models import Source
from sources.selectors import eta_seconds


def chunk_location(metadata: dict[str, Any]) -> str:
    """Page, sheet and rows, or heading path: where an operator would look for this text."""
    parts: list[str] = []
    start, end = metadata.get("page_start"), metadata.get("page_end")
    if metadata.get("page") is not None:
        parts.append(f"page {metadata['page']}")
    elif start is not None:
        parts.append(f"pages {start}-{end}")
    if metadata.get("sheet"):
        parts.append(f"sheet {metadata['sheet']}")
    if metadata.get("row_start") is not None:
        parts.append(f"rows {metadata['row_start']}-{metadata.get('row_end')}")
    headings = metadata.get("heading_path") or []
    if headings:
        parts.append(" › ".join(str(h) for h in headings))
    elif metadata.get("title"):
        parts.append(str(metadata["title"]))
    return "; ".join(parts)


def chunk_url(metadata: dict[str, Any]) -> str:
    url = metadata.get("source_url") or metadata.get("url") or ""
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""


def first_lines(text: str, lines: int = 3, chars: int = 300) -> str:
    head = "\n".join(text.strip().splitlines()[:lines])
    return head if len(head) <= chars else head[: chars - 1] + "…"


def format_eta(source: Source) -> str:
    seconds = eta_seconds(source)
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"about {minutes} min {secs} s" if minutes else f"about {secs} s"


def counts(source: Source) -> list[tuple[str, Any]]:
    """The figures an operator checks first; empty ones are left out."""
    units = f"{source.units_done} / {source.units_total or '?'} {source.unit_name}".strip() if source.unit_name else ""
    rows: list[tuple[str, Any]] = [
        ("Read", units),
        ("Chunks", source.chunk_count),
        ("Characters", source.char_count),
        ("Units with text", source.units_with_text if source.file_kind == "pdf" else ""),
        ("Sheets", source.sheet_count or ""),
        ("Engine", source.engine),
    ]
    return [(label, value) for label, value in rows if value not in ("", None)]
