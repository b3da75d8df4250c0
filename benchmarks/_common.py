"""Shared helpers of the benchmark scripts: inputs, timing, memory, tables and the JSON line."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
MB = 1024 * 1024


def setup_path() -> None:
    """Make the project importable when a script runs as ``python benchmarks/<name>.py``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botsmith.settings")


def setup_django() -> None:
    setup_path()
    import django

    django.setup()


# --- measuring ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls and the last call's result."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """Largest peak RSS among the reaped children of this process."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM, Python {platform.python_version()}, {platform.system()}"
    )


# --- output ------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table, so the output pastes straight into the README."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_result(figure: str, ratios: dict[str, Any], **extra: Any) -> None:
    """Exactly one JSON line per script: the figure, its ratios and the targets' verdicts."""
    print(json.dumps({"figure": figure, "ratios": ratios, **extra, "machine": machine()}, sort_keys=False))
    sys.stdout.flush()


def verdict(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "MISSED"


# --- inputs ------------------------------------------------------------------------------


def prose_base() -> str:
    """Real English prose shipped with every CPython: the language reference and library topics
    that ``help()`` shows, plus the license text. Paragraphs, lists, code samples, hard-wrapped
    lines: typical of the manuals and handbooks owners upload."""
    import pydoc_data.topics

    parts = [pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics)]
    license_path = Path(os.__file__).parent / "LICENSE.txt"
    if license_path.exists():
        parts.append(license_path.read_text(encoding="utf-8", errors="replace"))
    return "\n\n".join(parts)


def prose(size_bytes: int, path: str | None = None) -> str:
    """``size_bytes`` of prose: a given file, else the CPython docs repeated (each copy numbered)."""
    if path:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    base = prose_base()
    parts, total, copy = [], 0, 0
    while total < size_bytes:
        copy += 1
        block = f"Part {copy}\n\n{base}\n\n"
        parts.append(block)
        total += len(block.encode("utf-8"))
    return "".join(parts)


def _sentences() -> list[str]:
    text = " ".join(prose_base().split())
    out = [s.strip() + "." for s in text.split(". ") if 40 <= len(s) <= 400]
    return out


def cached(name: str, build: Callable[[Path], None]) -> Path:
    """Build an input once into ``var/bench/`` and reuse it on later runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".tmp")
        t0 = time.perf_counter()
        build(tmp)
        tmp.rename(path)
        print(f"  built {name} ({path.stat().st_size / MB:.1f} MB) in {time.perf_counter() - t0:.1f}s", flush=True)
    return path


def pdf_file(pages: int) -> Path:
    """A text PDF of ``pages`` pages, each about 2,500 characters of prose (core font, fpdf2)."""

    def build(path: Path) -> None:
        from fpdf import FPDF

        sentences = _sentences()
        rng = random.Random(pages)
        pdf = FPDF()
        pdf.set_auto_page_break(auto=False)
        pdf.set_font("Helvetica", size=10)
        for number in range(pages):
            pdf.add_page()
            pdf.set_xy(10, 10)
            body = f"Page {number + 1}. " + " ".join(rng.choice(sentences) for _ in range(18))
            body = body.encode("latin-1", "replace").decode("latin-1")[:2600]
            pdf.multi_cell(0, 4.6, body)
        pdf.output(str(path))

    return cached(f"prose-{pages}p.pdf", build)


_CT_XLSX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
XLSX_HEADERS = ["Order", "Customer", "City", "Product", "Quantity", "Unit price", "Total", "Comment"]


def xlsx_file(rows: int) -> Path:
    """A one-sheet workbook of ``rows`` order rows (8 columns, shared strings, numbers), written as
    raw SpreadsheetML like Excel does (openpyxl would take minutes for 200k rows)."""

    def build(path: Path) -> None:
        rng = random.Random(rows)
        customers = [f"Customer {i:04d}" for i in range(2000)]
        cities = ["Lyon", "Berlin", "Madrid", "Porto", "Oslo", "Turin", "Ghent", "Brno", "Cork", "Graz"]
        products = [f"Product {chr(65 + i % 26)}{i}" for i in range(300)]
        comments = [s[:80] for s in _sentences()[:500]]
        strings = XLSX_HEADERS + customers + cities + products + comments
        index = {s: i for i, s in enumerate(strings)}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", _CT_XLSX)
            archive.writestr("_rels/.rels", _RELS)
            archive.writestr("xl/workbook.xml", _WORKBOOK)
            archive.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
            sst = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
            archive.writestr(
                "xl/sharedStrings.xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'count="{len(strings)}" uniqueCount="{len(strings)}">{sst}</sst>',
            )
            with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
                sheet.write(
                    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                cols = "ABCDEFGH"
                head = "".join(
                    f'<c r="{c}1" t="s"><v>{index[h]}</v></c>' for c, h in zip(cols, XLSX_HEADERS, strict=True)
                )
                sheet.write(f'<row r="1">{head}</row>'.encode())
                buf = []
                for r in range(2, rows + 2):
                    qty = rng.randint(1, 40)
                    price = round(rng.uniform(1, 500), 2)
                    values = [
                        f'<c r="A{r}"><v>{100000 + r}</v></c>',
                        f'<c r="B{r}" t="s"><v>{index[rng.choice(customers)]}</v></c>',
                        f'<c r="C{r}" t="s"><v>{index[rng.choice(cities)]}</v></c>',
                        f'<c r="D{r}" t="s"><v>{index[rng.choice(products)]}</v></c>',
                        f'<c r="E{r}"><v>{qty}</v></c>',
                        f'<c r="F{r}"><v>{price}</v></c>',
                        f'<c r="G{r}"><v>{round(qty * price, 2)}</v></c>',
                    ]
                    if r % 3 == 0:
                        values.append(f'<c r="H{r}" t="s"><v>{index[rng.choice(comments)]}</v></c>')
                    buf.append(f'<row r="{r}">{"".join(values)}</row>')
                    if len(buf) >= 5000:
                        sheet.write("".join(buf).encode())
                        buf = []
                sheet.write("".join(buf).encode())
                sheet.write(b"</sheetData></worksheet>")

    return cached(f"orders-{rows}r.xlsx", build)


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CT_DOCX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/></Relationships>'
)


def docx_file(text_mb: float) -> Path:
    """A Word document with ``text_mb`` MB of text: paragraphs of several runs (as Word writes
    them), a heading (outline level) every 25 paragraphs and a small table every 200."""

    def build(path: Path) -> None:
        rng = random.Random(int(text_mb * 100))
        sentences = _sentences()
        target = int(text_mb * MB)
        body: list[str] = []
        total = 0
        n = 0
        while total < target:
            n += 1
            if n % 25 == 1:
                title = escape(rng.choice(sentences)[:60])
                body.append(
                    f'<w:p><w:pPr><w:outlineLvl w:val="{(n // 25) % 2}"/></w:pPr><w:r><w:t>{title}</w:t></w:r></w:p>'
                )
                total += len(title)
            if n % 200 == 0:
                cells = [["Name", "Role", "Office"], ["Alice", "Engineer", "Lyon"], ["Bob", "Designer", "Graz"]]
                rows = "".join(
                    "<w:tr>" + "".join(f"<w:tc><w:p><w:r><w:t>{c}</w:t></w:r></w:p></w:tc>" for c in row) + "</w:tr>"
                    for row in cells
                )
                body.append(f"<w:tbl>{rows}</w:tbl>")
            runs = []
            for _ in range(rng.randint(1, 3)):
                s = escape(rng.choice(sentences))
                runs.append(f'<w:r><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve">{s} </w:t></w:r>')
                total += len(s) + 1
            body.append("<w:p>" + "".join(runs) + "</w:p>")
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<w:document xmlns:w="{W_NS}"><w:body>{"".join(body)}</w:body></w:document>'
        )
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", _CT_DOCX)
            archive.writestr("_rels/.rels", _DOCX_RELS)
            archive.writestr("word/document.xml", xml.encode("utf-8"))

    return cached(f"prose-{text_mb:g}mb.docx", build)


def csv_file(size_mb: float) -> Path:
    """A comma-separated UTF-8 file of ``size_mb`` MB: ids, names, cities, amounts and a quoted
    comment that sometimes holds a comma."""

    def build(path: Path) -> None:
        rng = random.Random(int(size_mb))
        comments = [s[:90] for s in _sentences()[:800]]
        cities = ["Lyon", "Berlin", "Madrid", "Porto", "Oslo", "Turin", "Ghent", "Brno", "Cork", "Graz"]
        target = int(size_mb * MB)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "customer", "city", "quantity", "amount", "comment"])
            written = 0
            i = 0
            while written < target:
                out = io.StringIO()
                w = csv.writer(out, lineterminator="\n")
                for _ in range(10000):
                    i += 1
                    w.writerow(
                        [
                            i,
                            f"Customer {rng.randint(1, 5000)}",
                            rng.choice(cities),
                            rng.randint(1, 40),
                            f"{rng.uniform(1, 9000):.2f}",
                            rng.choice(comments),
                        ]
                    )
                chunk = out.getvalue()
                fh.write(chunk)
                written += len(chunk)

    return cached(f"orders-{size_mb:g}mb.csv", build)
