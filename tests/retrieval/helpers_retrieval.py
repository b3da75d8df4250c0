"""Building chatbots with chunks directly in the database, the way a completed run leaves them."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone

from sources.chunking import approx_tokens, content_hash
from sources.models import Chunk, Source


def make_source(chatbot, texts: Sequence[str], *, name: str = "doc.txt", active: bool = True,
                generation: int = 1, metadata: Sequence[dict] | None = None) -> Source:
    source = Source.objects.create(
        chatbot=chatbot, kind=Source.Kind.FILE, name=name, status=Source.Status.COMPLETED,
        chunk_count=len(texts), active_generation=generation, generation=generation, finished_at=timezone.now(),
    )
    add_chunks(source, texts, active=active, generation=generation, metadata=metadata)
    return source


def add_chunks(source: Source, texts: Sequence[str], *, active: bool, generation: int,
               metadata: Sequence[dict] | None = None) -> list[Chunk]:
    return Chunk.objects.bulk_create([
        Chunk(source=source, chatbot_id=source.chatbot_id, generation=generation, is_active=active, ordinal=i,
              text=text, char_count=len(text), token_count=approx_tokens(text), content_hash=content_hash(text),
              metadata=(metadata[i] if metadata else {"page": i + 1}))
        for i, text in enumerate(texts)
    ])


def wait_for_index(source_id: int, timeout: float = 90.0) -> Source:
    """Wait until the source's semantic index is ready (or failed)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.get(pk=source_id)
        if source.status == Source.Status.COMPLETED and source.index_status in (
            Source.IndexStatus.READY, Source.IndexStatus.FAILED
        ):
            return source
        time.sleep(0.2)
    source = Source.objects.get(pk=source_id)
    raise AssertionError(
        f"source {source_id}: index {source.index_status} {source.embedded_count}/{source.chunk_count} "
        f"after {timeout}s ({source.index_message})"
    )
