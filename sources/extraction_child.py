"""Entry point of the sandboxed extraction process: ``python -m sources.extraction_child``.

Reads one file with the extractor of its kind and writes JSON lines to stdout: ``seg`` for each
segment, ``stats`` for progress, then ``done`` or ``error``. It runs under memory and CPU limits
set by the parent, so a decompression bomb or a parser loop kills only this process.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import get_extractor
from sources.extractors.base import ExtractionLimits, ExtractionStats


def _emit(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


def run(kind: str, path: str, filename: str, limits: ExtractionLimits, out: Any) -> int:
    stats = ExtractionStats()

    def progress(current: ExtractionStats) -> None:
        _emit(out, {"t": "stats", "stats": asdict(current)})
        out.flush()

    try:
        extractor = get_extractor(kind, filename=filename)
        with open(path, "rb") as stream:
            for segment in extractor.extract(stream, limits=limits, stats=stats, progress=progress):
                _emit(out, {"t": "seg", "text": segment.text, "m": segment.metadata, "b": segment.boundary})
    except ProcessingError as exc:
        _emit(out, {"t": "error", "code": exc.code, "message": exc.message, "stats": asdict(stats)})
        return 0
    except MemoryError:
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


def main() -> int:
    request = json.loads(sys.stdin.readline())
    limits = ExtractionLimits(**request["limits"])
    out = sys.stdout
    code = run(request["kind"], request["path"], request.get("filename", ""), limits, out)
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
