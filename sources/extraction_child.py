"""Entry point of the sandboxed extraction process: ``python -m sources.extraction_child``.

Reads one file with the extractor of its kind and writes JSON lines to stdout: ``seg`` for each
segment (or, when the request asks for chunks, ``chunks`` batches: cleaned and chunked here, so
that work runs beside the parent's inserts), ``stats`` for progress, then ``done`` or ``error``.
It runs under memory and CPU limits set by the parent, so a decompression bomb or a parser loop
kills only this process. The warm template (``sources.extraction_template``) forks it per document
and calls ``serve`` directly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.chunking import chunk_segments
from sources.cleaning import clean_segments
from sources.extractors import get_extractor
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment

# Chunks per ``chunks`` message: one JSON line per batch keeps the per-message cost (a write, a
# json.loads in the parent) off the per-chunk path; small enough for progress to stay smooth.
CHUNKS_PER_MESSAGE = 200


def _emit(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


class _Batcher:
    """Collects chunks and writes them as one message; flushed before every stats line (order kept)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.items: list[list[Any]] = []

    def add(self, text: str, metadata: dict[str, Any]) -> None:
        self.items.append([text, metadata])
        if len(self.items) >= CHUNKS_PER_MESSAGE:
            self.flush()

    def flush(self) -> None:
        if self.items:
            _emit(self.out, {"t": "chunks", "c": self.items})
            self.items = []


def run(kind: str, path: str, filename: str, limits: ExtractionLimits, out: Any,
        chunking: tuple[int, int] | None = None) -> int:
    """Extract ``path``; with ``chunking`` = (size, overlap), clean and chunk too and ship chunks."""
    stats = ExtractionStats()
    batcher = _Batcher(out)

    def progress(current: ExtractionStats) -> None:
        batcher.flush()
        _emit(out, {"t": "stats", "stats": asdict(current)})
        out.flush()

    try:
        extractor = get_extractor(kind, filename=filename)
        with open(path, "rb") as stream:
            segments: Iterator[Segment] = extractor.extract(stream, limits=limits, stats=stats, progress=progress)
            if chunking is None:
                for segment in segments:
                    _emit(out, {"t": "seg", "text": segment.text, "m": segment.metadata, "b": segment.boundary})
            else:
                for draft in chunk_segments(clean_segments(segments), chunking[0], chunking[1]):
                    batcher.add(draft.text, draft.metadata)
                batcher.flush()
    except ProcessingError as exc:
        _emit(out, {"t": "error", "code": exc.code, "message": exc.message, "stats": asdict(stats)})
        return 0
    except MemoryError:
        batcher.items = []
        _emit(out, {"t": "error", "code": ErrorCode.TOO_LARGE.value,
                    "message": "This file needs more memory to read than allowed; it may be a decompression bomb.",
                    "stats": asdict(stats)})
        return 0
    except RecursionError:
        _emit(out, {"t": "error", "code": ErrorCode.CORRUPT.value,
                    "message": "This file's structure is too deeply nested to read; it may be damaged.",
                    "stats": asdict(stats)})
        return 0
    _emit(out, {"t": "done", "stats": asdict(stats)})
    return 0


def serve(request: dict[str, Any], out: Any) -> int:
    """Run one request (the JSON the parent sends) and flush ``out``."""
    limits = ExtractionLimits(**request["limits"])
    chunking = request.get("chunking")
    code = run(request["kind"], request["path"], request.get("filename", ""), limits, out,
               (int(chunking[0]), int(chunking[1])) if chunking else None)
    out.flush()
    return code


def main() -> int:
    return serve(json.loads(sys.stdin.readline()), sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
