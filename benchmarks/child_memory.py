"""Extraction child memory and speed when the input doubles, per format, as the pipeline runs it.

Usage: ``python benchmarks/child_memory.py [--quick]``. Each file goes through ``ExtractionProcess``
(a child forked from the warm template, cleaning and chunking in the child, chunks shipped to this
process and dropped): seconds and the child's peak RSS as the kernel counts it (``ru_maxrss``,
reported by the template when it reaps the child, so no sampling gaps). XLSX runs twice: with
calamine (the whole sheet held) and with the streaming reader (``XLSX_STREAMING_THRESHOLD_MB``
forced to 0). Target: the doubled input's peak within 10 % of the single input's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def pairs(quick: bool) -> list[tuple[str, str, Path, Path]]:
    s = 0.1 if quick else 1.0
    return [
        ("PDF", "pdf", c.pdf_file(int(1000 * s)), c.pdf_file(int(2000 * s))),
        ("XLSX", "xlsx", c.xlsx_file(int(200_000 * s)), c.xlsx_file(int(400_000 * s))),
        ("DOCX", "docx", c.docx_file(5 * s), c.docx_file(10 * s)),
        # 50 -> 100 MB: 200 MB of CSV is over the 200M-character cap per document.
        ("CSV", "csv", c.csv_file(50 * s), c.csv_file(100 * s)),
    ]


def measure(kind: str, path: Path, stream_over: int | None, repeat: int) -> tuple[float, float, int]:
    """(median seconds, max child peak RSS MB, chunks) over ``repeat`` runs."""
    from dataclasses import replace

    from sources.services.extraction import ChunkBatch, ExtractionProcess, SandboxLimits
    from sources.services.ingestion import extraction_limits

    limits = extraction_limits()
    if stream_over is not None:
        limits = replace(limits, stream_sheets_over_bytes=stream_over)
    times, peaks, chunks = [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        with ExtractionProcess(kind=kind, path=str(path), filename=path.name, limits=limits,
                               sandbox=SandboxLimits(), chunking=(1000, 150)) as proc:
            chunks = sum(len(item.drafts) for item in proc if isinstance(item, ChunkBatch))
        times.append(time.perf_counter() - t0)
        assert proc._exit is not None
        peaks.append(proc._exit[1] / c.MB)
    return statistics.median(times), max(peaks), chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of each input")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    c.setup_django()
    cases = pairs(args.quick)
    measure("pdf", cases[0][2], None, 1)  # start the template outside the clock
    rows, ratios, targets = [], {}, {}
    for label, kind, single, double in cases:
        modes: list[tuple[str, int | None]] = [("", None)]
        if kind == "xlsx":
            modes = [(" calamine", 1 << 62), (" streaming", 0)]
        for mode, stream_over in modes:
            a = measure(kind, single, stream_over, args.repeat)
            b = measure(kind, double, stream_over, 1)
            key = f"{label}{mode}".lower().replace(" ", "_")
            ratio = b[1] / a[1]
            rows.append([f"{label}{mode}", single.name, round(a[0], 2), a[2], round(a[2] / a[0]), round(a[1]),
                         double.name, round(b[0], 2), round(b[1]), round(ratio, 2)])
            ratios[f"{key}_child_rss_doubled"] = round(ratio, 2)
            targets[f"{key}_child_flat(doubled<=1.1x)"] = c.verdict(ratio, 1.1, higher_is_better=False)
            print(f"{label}{mode}: {a[1]:.0f} MB -> {b[1]:.0f} MB ({ratio:.2f}x)", flush=True)
    c.print_table(["format", "input", "s", "chunks", "chunks/s", "child peak MB", "doubled input", "s",
                   "child peak MB", "doubled/single"], rows)
    c.print_result("child_memory", ratios, targets=targets)


if __name__ == "__main__":
    main()
