"""Figure: OCR pages/s on a 20-page scan at 300 dpi, ours through the sandboxed pipeline child vs the
``tesseract`` command line on the same rendered pages run one page per core; words recognised by both.

Usage: ``python benchmarks/ocr.py [--quick] [--repeat 2] [--pages 20]``. The scan is built once into
var/bench/ (A4 pages of prose drawn with Pillow, embedded as images by fpdf2: no text layer). The
reference renders every page with pypdfium2 at 300 dpi to a grayscale PGM first (not timed), then runs
``tesseract page.pgm stdout`` with ``OMP_THREAD_LIMIT=1``, as many at once as there are cores. Ours
includes rendering, the per-page decision and the JSON-lines stream back to the parent. Peak RSS is the
largest of the child and its engine processes (RUSAGE_CHILDREN of a fresh measuring process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

DPI = 300


def scan_file(pages: int) -> Path:
    def build(path: Path) -> None:
        from fpdf import FPDF
        from PIL import Image, ImageDraw, ImageFont

        sentences = c._sentences()
        font = ImageFont.load_default(size=42)
        pdf = FPDF()
        for n in range(pages):
            image = Image.new("L", (2480, 3508), 255)
            draw = ImageDraw.Draw(image)
            lines = textwrap.wrap(" ".join(sentences[n * 12:(n + 1) * 12]), 80)[:40]
            for i, line in enumerate(lines):
                draw.text((180, 200 + i * 76), line, fill=0, font=font)
            pdf.add_page()
            pdf.image(image, x=0, y=0, w=210, h=297)
        pdf.output(str(path))

    return c.cached(f"scan-{pages}p.pdf", build)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)}


def measure_ours(path: str) -> dict:
    """Runs in a fresh process: the sandboxed extraction child exactly as the pipeline starts it."""
    c.setup_django()
    from sources.services.extraction import ExtractionProcess, SandboxLimits, StatsUpdate
    from sources.services.ingestion import extraction_limits

    texts = []
    t0 = time.perf_counter()
    with ExtractionProcess(kind="pdf", path=path, filename="scan.pdf", limits=extraction_limits(),
                           sandbox=SandboxLimits(memory_mb=1024, cpu_seconds=1200)) as proc:
        for item in proc:
            if not isinstance(item, StatsUpdate):
                texts.append(item.text)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "pages": proc.stats.units_done, "engine": proc.stats.engine,
            "rss": c.children_peak_rss_mb(), "text": "\n".join(texts)}


def render_pages(path: Path, out_dir: Path) -> list[Path]:
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(path))
    files = []
    for index in range(len(doc)):
        page = doc[index]
        image = page.render(scale=DPI / 72, grayscale=True).to_pil()
        target = out_dir / f"page-{index + 1:03d}.pgm"
        image.save(target, format="PPM")
        files.append(target)
        page.close()
    doc.close()
    return files


def measure_cli(files: list[Path]) -> dict:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(page: Path) -> str:
        done = subprocess.run(["tesseract", str(page), "stdout"], capture_output=True, check=True, env=env)
        return done.stdout.decode("utf-8", "replace")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        texts = list(pool.map(one, files))
    return {"seconds": time.perf_counter() - t0, "text": "\n".join(texts), "rss": c.children_peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_ours(args.measure)))
        return
    c.setup_path()
    pages = 4 if args.quick else args.pages
    scan = scan_file(pages)
    cores = len(os.sched_getaffinity(0))
    ours_runs, cli_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        files = render_pages(scan, Path(tmp))
        for _ in range(args.repeat):  # interleaved, so a busy moment on a shared machine hits both
            done = subprocess.run([sys.executable, __file__, "--measure", str(scan)], capture_output=True,
                                  text=True, check=True, cwd=c.ROOT)
            ours_runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            cli_runs.append(measure_cli(files))
    ours = sorted(ours_runs, key=lambda r: r["seconds"])[len(ours_runs) // 2]
    cli = sorted(cli_runs, key=lambda r: r["seconds"])[len(cli_runs) // 2]
    ours_words, cli_words = _words(ours["text"]), _words(cli["text"])
    source_words = _words(" ".join(c._sentences()[: pages * 12]))
    same = len(ours_words & cli_words) / max(1, len(ours_words | cli_words))
    rate_ours, rate_cli = pages / ours["seconds"], pages / cli["seconds"]
    print(f"\nOCR, {pages}-page A4 scan at {DPI} dpi, {cores} cores\n")
    c.print_table(
        ["engine", "pages/s", "pages/s per core", "seconds", "peak RSS MB", "words found of the printed", "× CLI"],
        [
            [f"ours, sandboxed ({ours['engine']})", rate_ours, rate_ours / cores, ours["seconds"], ours["rss"],
             f"{len(ours_words & source_words) / max(1, len(source_words)):.1%}", rate_ours / rate_cli],
            ["tesseract CLI, one page per core", rate_cli, rate_cli / cores, cli["seconds"], cli["rss"],
             f"{len(cli_words & source_words) / max(1, len(source_words)):.1%}", 1.0],
        ],
    )
    print(f"\nSame words (Jaccard of the two vocabularies): {same:.1%}")
    ratio = rate_ours / rate_cli
    c.print_result("ocr", {"ours_vs_cli": round(ratio, 3), "same_words": round(same, 3)},
                   targets={"ours_vs_cli>=0.9": c.verdict(ratio, 0.9), "same_words>=0.95": c.verdict(same, 0.95)},
                   pages=pages, pages_per_s={"ours": round(rate_ours, 3), "cli": round(rate_cli, 3)})


if __name__ == "__main__":
    main()
