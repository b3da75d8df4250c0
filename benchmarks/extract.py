"""Figure 2: extraction speed and peak memory, our extractors against the raw libraries on the same files.

Usage: ``python benchmarks/extract.py [--quick] [--repeat 3] [--only pdf,xlsx,docx,csv]``.
Inputs (built once into var/bench/): a 1,000-page text PDF, a 200k-row workbook, a DOCX with
5 MB of text, a 100 MB CSV (``--quick``: a tenth of each). Every engine runs in a fresh
process per repetition, so its peak RSS is its own; the rate is the file's units (pages, rows,
paragraphs as the raw library counts them) over the median time, so ratios are time ratios.
"ours" is the extractor in-process; "ours, sandboxed" adds the child process and the JSON-lines
stream the pipeline uses (its RSS is the child's). PyMuPDF (AGPL) is a reference only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


# --- engines (run inside a measuring child) ----------------------------------------------


def _limits():
    from sources.extractors.base import ExtractionLimits

    return ExtractionLimits(
        max_pages=100_000, max_rows=10_000_000, max_chars=2_000_000_000, max_uncompressed_bytes=4 * 1024**3
    )


def ours(kind: str) -> Callable[[], Callable[[str], int]]:
    def load() -> Callable[[str], int]:
        from sources.extractors import get_extractor
        from sources.extractors.base import ExtractionStats

        return lambda path: run(path, get_extractor, ExtractionStats)

    def run(path: str, get_extractor, ExtractionStats) -> int:
        stats = ExtractionStats()
        chars = 0
        with open(path, "rb") as stream:
            for segment in get_extractor(kind, filename=path).extract(stream, limits=_limits(), stats=stats):
                chars += len(segment.text)
        return stats.units_done

    return load


def ours_sandboxed(kind: str) -> Callable[[], Callable[[str], int]]:
    def load() -> Callable[[str], int]:
        from sources.services import extraction

        return lambda path: run(path, extraction.ExtractionProcess, extraction.SandboxLimits, extraction.StatsUpdate)

    def run(path: str, ExtractionProcess, SandboxLimits, StatsUpdate) -> int:
        with ExtractionProcess(
            kind=kind, path=path, filename=Path(path).name, limits=_limits(), sandbox=SandboxLimits()
        ) as proc:
            for item in proc:
                if isinstance(item, StatsUpdate):
                    continue
        return proc.stats.units_done

    return load


def pdfium(path: str) -> int:
    import pypdfium2

    doc = pypdfium2.PdfDocument(path)
    n = len(doc)
    for i in range(n):
        page = doc[i]
        tp = page.get_textpage()
        tp.get_text_range()
        tp.close()
        page.close()
    doc.close()
    return n


def pypdf_(path: str) -> int:
    from pypdf import PdfReader

    reader = PdfReader(path)
    for page in reader.pages:
        page.extract_text()
    return len(reader.pages)


def pymupdf(path: str) -> int:
    import pymupdf as fitz

    with fitz.open(path) as doc:
        for page in doc:
            page.get_text()
        return doc.page_count


def calamine(path: str) -> int:
    import python_calamine

    rows = 0
    wb = python_calamine.CalamineWorkbook.from_path(path)
    for name in wb.sheet_names:
        for _row in wb.get_sheet_by_name(name).iter_rows():
            rows += 1
    wb.close()
    return rows


def openpyxl_(path: str) -> int:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    rows = 0
    for ws in wb.worksheets:
        for _row in ws.iter_rows(values_only=True):
            rows += 1
    wb.close()
    return rows


def lxml_(path: str) -> int:
    """The minimum a streaming reader does: iterparse paragraphs, join their w:t, free them."""
    import zipfile

    from lxml import etree

    count = 0
    with zipfile.ZipFile(path) as archive, archive.open("word/document.xml") as part:
        for _event, el in etree.iterparse(part, events=("end",), tag=f"{W}p"):
            "".join(t.text or "" for t in el.iter(f"{W}t"))
            count += 1
            if el.getparent().tag == f"{W}body":
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
    return count


def python_docx(path: str) -> int:
    import docx

    doc = docx.Document(path)
    n = 0
    for p in doc.paragraphs:
        p.text  # noqa: B018
        n += 1
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                for p in cell.paragraphs:
                    p.text  # noqa: B018
                    n += 1
    return n


def stdlib_csv(path: str) -> int:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.reader(fh))


def raw(fn: Callable[[str], int], *modules: str) -> Callable[[], Callable[[str], int]]:
    """Import the library before the clock starts (as for ours), then time only the reading."""

    def load() -> Callable[[str], int]:
        for name in modules:
            importlib.import_module(name)
        return fn

    return load


ENGINES: dict[str, list[tuple[str, Callable[[], Callable[[str], int]]]]] = {
    "pdf": [
        ("ours (pdfium)", ours("pdf")),
        ("ours, sandboxed", ours_sandboxed("pdf")),
        ("pypdfium2", raw(pdfium, "pypdfium2")),
        ("pypdf", raw(pypdf_, "pypdf")),
        ("PyMuPDF (reference)", raw(pymupdf, "pymupdf")),
    ],
    "xlsx": [
        ("ours (calamine)", ours("xlsx")),
        ("ours, sandboxed", ours_sandboxed("xlsx")),
        ("python-calamine", raw(calamine, "python_calamine")),
        ("openpyxl read-only", raw(openpyxl_, "openpyxl")),
    ],
    "docx": [
        ("ours (lxml)", ours("docx")),
        ("ours, sandboxed", ours_sandboxed("docx")),
        ("lxml iterparse", raw(lxml_, "lxml.etree", "zipfile")),
        ("python-docx", raw(python_docx, "docx")),
    ],
    "csv": [
        ("ours (csv)", ours("csv")),
        ("ours, sandboxed", ours_sandboxed("csv")),
        ("stdlib csv.reader", raw(stdlib_csv, "csv")),
    ],
}
# Slow peers get one run on the full-size input (they take tens of seconds each); stated in the table.
SLOW = {"pypdf", "openpyxl read-only", "python-docx"}
REFERENCE = {
    "pdf": "PyMuPDF (reference)",
    "xlsx": "python-calamine",
    "docx": "lxml iterparse",
    "csv": "stdlib csv.reader",
}
TARGETS = {"pdf": 0.5, "xlsx": 0.7, "docx": 0.3}
UNITS = {"pdf": "pages", "xlsx": "rows", "docx": "paragraphs", "csv": "rows"}


def measure_child(kind: str, engine: str, path: str) -> None:
    c.setup_path()  # extractors are pure modules: no django.setup(), as in the sandboxed child
    fn = dict(ENGINES[kind])[engine]()
    t0 = time.perf_counter()
    units = fn(path)
    seconds = time.perf_counter() - t0
    rss = c.peak_rss_mb()
    if engine == "ours, sandboxed":
        rss = c.children_peak_rss_mb()
    print(json.dumps({"seconds": seconds, "units": units, "rss_mb": rss}))


def run_engine(kind: str, engine: str, path: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", kind, engine, str(path)],
            cwd=c.ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{engine} on {path.name} failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "units": runs[-1]["units"],
        "rss_mb": statistics.median(r["rss_mb"] for r in runs),
        "runs": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of each input")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="pdf,xlsx,docx,csv")
    parser.add_argument("--measure", nargs=3, metavar=("KIND", "ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_child(*args.measure)
        return
    c.setup_path()
    scale = 0.1 if args.quick else 1.0
    files = {
        "pdf": lambda: c.pdf_file(int(1000 * scale)),
        "xlsx": lambda: c.xlsx_file(int(200_000 * scale)),
        "docx": lambda: c.docx_file(5 * scale),
        "csv": lambda: c.csv_file(100 * scale),
    }
    rows = []
    ratios: dict[str, float] = {}
    targets: dict[str, str] = {}
    rates: dict[str, dict[str, float]] = {}
    for kind in args.only.split(","):
        path = files[kind]()
        results = {}
        for engine, _fn in ENGINES[kind]:
            repeat = 1 if engine in SLOW and args.repeat > 1 else args.repeat
            results[engine] = run_engine(kind, engine, path, repeat)
            print(f"  {kind} {engine}: {results[engine]['seconds']:.2f}s", flush=True)
        ref = results[REFERENCE[kind]]
        units = ref["units"]
        ours_name = ENGINES[kind][0][0]
        rates[kind] = {}
        for engine, r in results.items():
            rate = units / r["seconds"]
            rates[kind][engine] = round(rate, 1)
            rows.append(
                [
                    f"{kind} ({path.stat().st_size / c.MB:.1f} MB, {units:,} {UNITS[kind]})",
                    engine,
                    round(rate, 1),
                    round(r["seconds"], 2),
                    round(r["rss_mb"], 1),
                    round(ref["seconds"] / r["seconds"], 2),
                    f"median of {r['runs']}" if r["runs"] > 1 else "1 run",
                ]
            )
        ratio = round(ref["seconds"] / results[ours_name]["seconds"], 2)
        ratios[f"{kind}_ours_vs_{REFERENCE[kind].split()[0].lower()}"] = ratio
        ratios[f"{kind}_sandboxed_vs_{REFERENCE[kind].split()[0].lower()}"] = round(
            ref["seconds"] / results["ours, sandboxed"]["seconds"], 2
        )
        if kind in TARGETS:
            targets[f"{kind}>={TARGETS[kind]}x"] = c.verdict(ratio, TARGETS[kind])
    c.print_table(["file", "engine", "units/s", "seconds", "peak RSS MB", "× reference", "runs"], rows)
    c.print_result("extract", ratios, targets=targets, units_per_s=rates)


if __name__ == "__main__":
    main()
