"""Figure: the newer formats, ours against the library each is built on or usually read with: units/s and peak RSS.

Usage: ``python benchmarks/formats.py [--quick] [--repeat 3] [--only pptx,odt,...]``. Inputs are built
once into var/bench/ with the test builders (python-pptx, odfpy, the BIFF writer, the standard library).
Every engine runs in a fresh process per repetition, so peak RSS is its own. References: python-pptx
(text of every shape), odfpy's ``teletype.extractText`` over paragraphs, python-calamine rows, BeautifulSoup
``get_text`` per chapter/page, the standard ``email`` parser with ``get_body``. Ours does more (reading
order, heading paths, records), so ≥ 0.5× of the reference is the goal.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

# XLS rows are numbers: the test BIFF writer keeps all strings in one SST record (< 8 KB).
SIZES = {"pptx": 500, "odp": 500, "odt": 20_000, "ods": 20_000, "xls": 60_000, "epub": 200, "html": 5000,
         "mbox": 5000}  # fmt: skip


def build(kind: str, n: int, path: Path) -> None:
    c.setup_path()
    from tests.fixtures import mail, office
    from tests.fixtures.biff import build_xls

    words = c._sentences()
    if kind == "pptx":
        from pptx import Presentation

        prs = Presentation()
        for i in range(n):
            slide = prs.slides.add_slide(prs.slide_layouts[1])
            slide.shapes.title.text = f"Slide {i}"
            slide.placeholders[1].text = "\n".join(words[i * 5:(i + 1) * 5])
        prs.save(str(path))
    elif kind == "odp":
        data = office.build_odp()
        archive = zipfile.ZipFile(io.BytesIO(data))
        content = archive.read("content.xml").decode()
        start, end = content.index("<draw:page "), content.rindex("</draw:page>") + len("</draw:page>")
        pages = content[start:end]
        content = content[:start] + pages * (n // 2) + content[end:]
        path.write_bytes(office.replace_member(data, "content.xml", content.encode()))
    elif kind == "odt":
        from odf.opendocument import OpenDocumentText
        from odf.text import H, P

        doc = OpenDocumentText()
        for i in range(n):
            if i % 50 == 0:
                doc.text.addElement(H(outlinelevel=1, text=f"Section {i // 50}"))
            doc.text.addElement(P(text=words[i % len(words)]))
        doc.save(str(path))
    elif kind == "ods":
        from odf.opendocument import OpenDocumentSpreadsheet
        from odf.table import Table, TableCell, TableRow
        from odf.text import P

        doc = OpenDocumentSpreadsheet()
        table = Table(name="Data")
        for i in range(n):
            row = TableRow()
            for value in (f"item {i}", str(i), words[i % len(words)][:40]):
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
                row.addElement(cell)
            table.addElement(row)
        doc.spreadsheet.addElement(table)
        doc.save(str(path))
    elif kind == "xls":
        rows = [["Id", "Amount", "Group"]] + [[i, i * 1.5, i % 7] for i in range(n)]
        path.write_bytes(build_xls({"Data": rows}))
    elif kind == "epub":
        chapters = [
            (f"Chapter {i}", f"<h1>Chapter {i}</h1>" + "".join(f"<p>{w}</p>" for w in words[i * 20:(i + 1) * 20]))
            for i in range(n)
        ]
        path.write_bytes(office.build_epub(chapters))
    elif kind == "html":
        body = "".join(f"<h2>Part {i}</h2><p>{words[i % len(words)]}</p>" for i in range(n))
        path.write_bytes(f"<html><head><title>Big page</title></head><body><main>{body}</main></body></html>".encode())
    elif kind == "mbox":
        path.write_bytes(mail.build_mbox([mail.build_email(f"Message {i}") for i in range(n)]))


def reference(kind: str, path: str) -> int:
    if kind == "pptx":
        from pptx import Presentation

        count = 0
        for slide in Presentation(path).slides:
            "".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)
            count += 1
        return count
    if kind in ("odt", "odp"):
        from odf import teletype, text
        from odf.opendocument import load

        doc = load(path)
        return len([teletype.extractText(p) for p in doc.getElementsByType(text.P)])
    if kind in ("ods", "xls"):
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(path)
        return sum(len(list(book.get_sheet_by_name(name).iter_rows())) for name in book.sheet_names)
    if kind == "epub":
        from bs4 import BeautifulSoup

        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.endswith(".xhtml") and "nav" not in n]
        for name in names:
            BeautifulSoup(archive.read(name), "lxml").get_text()
        return len(names)
    if kind == "html":
        from bs4 import BeautifulSoup

        BeautifulSoup(Path(path).read_bytes(), "lxml").get_text()
        return 1
    if kind == "mbox":
        import mailbox

        count = 0
        for message in mailbox.mbox(path, create=False):
            body = message.get_payload()
            count += 1 if body is not None else 0
        return count
    raise ValueError(kind)


def ours(kind: str, path: str) -> int:
    c.setup_django()
    from sources.extractors import get_extractor
    from sources.extractors.base import ExtractionLimits, ExtractionStats

    stats = ExtractionStats()
    limits = ExtractionLimits(max_pages=100_000, max_rows=10_000_000, max_chars=2_000_000_000)
    with open(path, "rb") as stream:
        for _ in get_extractor(kind, filename=path).extract(stream, limits=limits, stats=stats):
            pass
    return stats.units_done


_REFERENCE_MODULES = {"pptx": ["pptx"], "odt": ["odf.opendocument", "odf.teletype"], "odp": ["odf.opendocument"],
                      "ods": ["python_calamine"], "xls": ["python_calamine"], "epub": ["bs4", "lxml"],
                      "html": ["bs4", "lxml"], "mbox": ["mailbox"]}  # fmt: skip


def measure(kind: str, engine: str, path: str) -> dict:
    """Imports happen before the clock starts, for both engines: the figure is reading speed."""
    import importlib

    fn = ours if engine == "ours" else reference
    if engine == "ours":
        c.setup_django()
        from sources.extractors import get_extractor

        get_extractor(kind)
    else:
        for module in _REFERENCE_MODULES[kind]:
            importlib.import_module(module)
    t0 = time.perf_counter()
    units = fn(kind, path)
    return {"seconds": time.perf_counter() - t0, "units": units, "rss": _own_peak_rss_mb()}


def _own_peak_rss_mb() -> float:
    """VmHWM belongs to this program's address space; ru_maxrss would carry the forking parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return c.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(SIZES))
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    c.setup_path()
    rows, ratios = [], {}
    for kind in args.only.split(","):
        n = max(2, SIZES[kind] // (10 if args.quick else 1))
        path = c.cached(f"formats-{kind}-{n}.{kind}", lambda p, kind=kind, n=n: build(kind, n, p))
        results = {}
        for engine in ("ours", "reference"):
            runs = []
            for _ in range(args.repeat):
                done = subprocess.run([sys.executable, __file__, "--measure", kind, engine, str(path)],
                                      capture_output=True, text=True, check=True, cwd=c.ROOT)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            results[engine] = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        mb = path.stat().st_size / c.MB
        ratio = results["reference"]["seconds"] / results["ours"]["seconds"]
        ratios[kind] = round(ratio, 2)
        for engine, r in results.items():
            rows.append([f"{kind.upper()} {n:,} units ({mb:.1f} MB)" if engine == "ours" else "", engine,
                         r["units"], r["units"] / r["seconds"], mb / r["seconds"], r["seconds"], r["rss"],
                         ratio if engine == "ours" else 1.0])
    c.print_table(["file", "engine", "units", "units/s", "MB/s", "seconds", "peak RSS MB", "× reference"], rows)
    c.print_result("formats", ratios, targets={k: c.verdict(v, 0.5) for k, v in ratios.items()})


if __name__ == "__main__":
    main()
