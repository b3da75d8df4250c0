"""Figure 3: end to end through a real worker and Redis, upload -> completed, on SQLite and PostgreSQL.

Usage: ``python benchmarks/pipeline.py [--quick] [--db sqlite,postgres] [--repeat 3]``.
Each database gets its own run of this script in a child process (Django settings are per
process): a fresh database (a migrated temp SQLite file, or ``createdb bench_<hex>``), a worker
``celery -A botsmith worker -c 1`` on its own broker key prefix, and files uploaded through the
real API view. Measured per file: seconds from upload to ``completed``, seconds in the worker
(``started_at`` to ``finished_at``), chunks stored per second, the peak RSS of the worker's pool
process and of the extraction child (psutil, sampled every 20 ms), and the overhead of the
pipeline over the raw extraction (our extractor alone, in a fresh process, same file).
Doubled inputs (2,000 pages, 400k rows, 10 MB DOCX text; CSV halved to 50 MB, as 200 MB is over the
per-document character cap) show whether memory stays flat. A separate
measurement times ``ChunkWriter`` alone (the pipeline's insert path) on the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
KIND_OF = {".pdf": "pdf", ".xlsx": "xlsx", ".docx": "docx", ".csv": "csv"}


def inputs(quick: bool) -> list[tuple[str, Path, bool]]:
    """(label, file, repeated?) — doubled sizes run once, for the memory comparison only."""
    s = 0.1 if quick else 1.0
    return [
        (f"PDF {int(1000 * s)} pages", c.pdf_file(int(1000 * s)), True),
        (f"PDF {int(2000 * s)} pages", c.pdf_file(int(2000 * s)), False),
        (f"XLSX {int(200 * s)}k rows", c.xlsx_file(int(200_000 * s)), True),
        (f"XLSX {int(400 * s)}k rows", c.xlsx_file(int(400_000 * s)), False),
        (f"DOCX {5 * s:g} MB text", c.docx_file(5 * s), True),
        (f"DOCX {10 * s:g} MB text", c.docx_file(10 * s), False),
        # Halved rather than doubled: 200 MB of CSV is over the 200M-character cap per document.
        (f"CSV {50 * s:g} MB", c.csv_file(50 * s), False),
        (f"CSV {100 * s:g} MB", c.csv_file(100 * s), True),
    ]


# --- parent: one child run per database --------------------------------------------------------


def create_database(db: str, tmp: Path) -> tuple[str, str | None]:
    if db == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite3'}", None
    name = f"bench_{uuid.uuid4().hex[:10]}"
    subprocess.run(["createdb", "-h", PG_HOST, "-U", PG_USER, name], check=True)
    return f"postgres://{PG_USER}@{PG_HOST}/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        subprocess.run(["dropdb", "-h", PG_HOST, "-U", PG_USER, "--if-exists", name], check=False)


def bench_env(database_url: str, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_KEY_PREFIX": f"botsmith-bench-{uuid.uuid4().hex[:10]}:",
            "MEDIA_ROOT": str(tmp / "media"),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver,localhost",
            "MAX_UPLOAD_SIZE": str(500 * c.MB),
            "UPLOAD_THROTTLE_RATE": "10000/min",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "botsmith.settings",
            # Ingestion only: embedding 180k chunks in the same pool process would take the rest of
            # the run and queue the next upload behind it (benchmarks/embeddings.py measures that).
            "EMBEDDINGS_BACKEND": "none",
            "MAX_SHEET_ROWS": "5000000",  # the 100 MB CSV has 860k rows; headroom
        }
    )
    return env


def run_database(db: str, args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"botsmith-bench-{db}-"))
    database_url, pg_name = create_database(db, tmp)
    try:
        env = bench_env(database_url, tmp)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env, check=True
        )
        cmd = [sys.executable, __file__, "--child", db, "--tmp", str(tmp), "--repeat", str(args.repeat)]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, cwd=c.ROOT, env=env, capture_output=True, text=True, check=False, timeout=1200)
        sys.stderr.write(out.stderr[-4000:] if out.returncode else "")
        if out.returncode != 0:
            raise RuntimeError(f"pipeline run on {db} failed (exit {out.returncode})")
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])
            print(line, flush=True)
        raise RuntimeError(f"pipeline run on {db} printed no result")
    finally:
        drop_database(pg_name)
        shutil.rmtree(tmp, ignore_errors=True)


# --- child: inside Django, with a worker --------------------------------------------------------


class RssSampler:
    """Peak RSS of the worker's pool process(es) and of extraction children, sampled in a thread."""

    def __init__(self, worker_pid: int) -> None:
        import threading

        self.worker_pid = worker_pid
        self.pool_mb = 0.0
        self.child_mb = 0.0
        self.template_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        main = psutil.Process(self.worker_pid)
        while not self._stop.is_set():
            try:
                for proc in main.children(recursive=True):
                    try:
                        rss = proc.memory_info().rss / c.MB
                        cmd = " ".join(proc.cmdline())
                        name = proc.name()
                    except psutil.Error:
                        continue
                    # A cold child runs ``-m sources.extraction_child``; a warm one is a fork of the
                    # template (``-m sources.extraction_template``) renamed "bs-extract".
                    if "sources.extraction_child" in cmd or name == "bs-extract":
                        self.child_mb = max(self.child_mb, rss)
                    elif "sources.extraction_template" in cmd:
                        self.template_mb = max(self.template_mb, rss)
                    else:
                        self.pool_mb = max(self.pool_mb, rss)
            except psutil.Error:
                pass
            self._stop.wait(0.02)


def upload_and_wait(client, chatbot, path: Path, worker_pid: int) -> dict:
    from sources.models import Source

    with RssSampler(worker_pid) as rss:
        t0 = time.perf_counter()
        with open(path, "rb") as fh:
            response = client.post(
                f"/api/chatbots/{chatbot.pk}/sources/upload/", {"file": fh, "force": "true"}, format="multipart"
            )
        assert response.status_code == 202, response.content[:500]
        source_id = response.json()["sources"][0]["source_id"]
        while True:
            source = Source.objects.get(pk=source_id)
            if source.status in (Source.Status.COMPLETED, Source.Status.FAILED, Source.Status.CANCELLED):
                break
            if time.perf_counter() - t0 > 900:
                raise RuntimeError(f"{path.name} did not finish in 900 s (stage {source.stage!r})")
            time.sleep(0.02)
        total = time.perf_counter() - t0
    if source.status != Source.Status.COMPLETED:
        raise RuntimeError(f"{path.name}: {source.status} {source.error_code} {source.error_message}")
    in_worker = (source.finished_at - source.started_at).total_seconds()
    return {
        "seconds": total,
        "worker_seconds": in_worker,
        "chunks": source.chunk_count,
        "pool_rss_mb": rss.pool_mb,
        "child_rss_mb": rss.child_mb,
        "template_rss_mb": rss.template_mb,
    }


def insert_rate(chatbot, n: int, *, keyword_index: bool = True) -> float:
    """Chunks/s through ``ChunkWriter`` (batches, hashing, dedupe), the pipeline's write path; the
    keyword index is fed by triggers as chunks are staged, so ``keyword_index=False`` drops it for
    the measurement (and rebuilds it after) to show what indexing costs."""
    from django.db import connection

    from retrieval import keyword
    from sources.chunking import ChunkDraft
    from sources.models import Source
    from sources.services.chunk_store import ChunkWriter

    text = c.prose_base()
    drafts = [
        ChunkDraft(f"{i} " + text[(i * 997) % 400_000 : (i * 997) % 400_000 + 950], {"page": i // 3 + 1})
        for i in range(n)
    ]
    rates = []
    if not keyword_index:
        keyword.drop_index(connection)
    try:
        for _ in range(3):
            source = Source.objects.create(chatbot=chatbot, kind=Source.Kind.FILE, name="insert-bench")
            writer = ChunkWriter(source, 1)
            t0 = time.perf_counter()
            for _count in writer.add_all(drafts):
                pass
            rates.append(n / (time.perf_counter() - t0))
            source.delete()
    finally:
        if not keyword_index:
            keyword.ensure_index(connection)
    return statistics.median(rates)


def child_main(db: str, tmp: Path, quick: bool, repeat: int) -> None:
    c.setup_django()
    import extract
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from botsmith.celery import app
    from botsmith.models import Chatbot
    from tests.worker import WorkerProcess

    (tmp / "media").mkdir(exist_ok=True)
    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    chatbot = Chatbot.objects.create(owner=user, name="Bench bot")
    client = APIClient()
    client.force_authenticate(user)
    worker = WorkerProcess(dict(os.environ), tmp, concurrency=1).start()
    results = []
    try:
        worker.wait_ready(app, timeout=60)
        print(f"[{db}] worker ready", flush=True)
        for label, path, repeated in inputs(quick):
            kind = KIND_OF[path.suffix]
            runs = [upload_and_wait(client, chatbot, path, worker.proc.pid) for _ in range(repeat if repeated else 1)]
            raw = extract.run_engine(kind, extract.ENGINES[kind][0][0], path, repeat if repeated else 1)
            row = {
                "file": label,
                "runs": len(runs),
                "seconds": statistics.median(r["seconds"] for r in runs),
                "worker_seconds": statistics.median(r["worker_seconds"] for r in runs),
                "chunks": runs[-1]["chunks"],
                "pool_rss_mb": max(r["pool_rss_mb"] for r in runs),
                "child_rss_mb": max(r["child_rss_mb"] for r in runs),
                "template_rss_mb": max(r["template_rss_mb"] for r in runs),
                "extract_seconds": raw["seconds"],
                "main": repeated,
            }
            row["chunks_per_s"] = row["chunks"] / row["worker_seconds"]
            row["overhead"] = (row["worker_seconds"] - raw["seconds"]) / raw["seconds"]
            print(
                f"[{db}] {label}: {row['seconds']:.2f}s upload->completed, {row['worker_seconds']:.2f}s in worker, "
                f"extraction alone {raw['seconds']:.2f}s, child {row['child_rss_mb']:.0f} MB, "
                f"template {row['template_rss_mb']:.0f} MB",
                flush=True,
            )
            results.append(row)
        rate = insert_rate(chatbot, 20_000 if quick else 60_000)
        rate_unindexed = insert_rate(chatbot, 20_000 if quick else 60_000, keyword_index=False)
    finally:
        worker.stop()
    result = {"db": db, "files": results, "insert_rate": rate, "insert_rate_unindexed": rate_unindexed}
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of each input, one run each")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, Path(args.tmp), args.quick, args.repeat)
        return
    c.setup_path()
    inputs(args.quick)  # build (or reuse) the files before any clock starts
    rows = []
    ratios: dict[str, float] = {}
    targets: dict[str, str] = {}
    for db in args.db.split(","):
        result = run_database(db, args)
        by_file = {r["file"]: r for r in result["files"]}
        for r in result["files"]:
            rows.append(
                [
                    db,
                    r["file"],
                    round(r["seconds"], 2),
                    round(r["worker_seconds"], 2),
                    round(r["extract_seconds"], 2),
                    round(r["overhead"], 2),
                    r["chunks"],
                    round(r["chunks_per_s"]),
                    round(r["pool_rss_mb"]),
                    round(r["child_rss_mb"]),
                    f"median of {r['runs']}" if r["runs"] > 1 else "1 run",
                ]
            )
            if r.get("main", r["runs"] > 1):  # the doubled inputs are for the memory comparison
                key = f"{db}_{r['file'].split()[0].lower()}_overhead"
                ratios[key] = round(r["overhead"], 2)
                targets[f"{key}<=0.5"] = c.verdict(r["overhead"], 0.5, higher_is_better=False)
        files = list(by_file)
        for small, big in zip(files[0::2], files[1::2], strict=True):
            a, b = by_file[small], by_file[big]
            peak_a = max(a["pool_rss_mb"], a["child_rss_mb"])
            peak_b = max(b["pool_rss_mb"], b["child_rss_mb"])
            kind = small.split()[0].lower()
            ratios[f"{db}_{kind}_rss_doubled_input"] = round(peak_b / peak_a, 2)
            ratios[f"{db}_{kind}_child_rss_doubled_input"] = round(b["child_rss_mb"] / a["child_rss_mb"], 2)
            targets[f"{db}_{kind}_peak_rss<=300MB"] = c.verdict(peak_a, 300, higher_is_better=False)
            targets[f"{db}_{kind}_rss_flat(doubled<=1.2x)"] = c.verdict(peak_b / peak_a, 1.2, higher_is_better=False)
            targets[f"{db}_{kind}_child_flat(doubled<=1.1x)"] = c.verdict(
                b["child_rss_mb"] / a["child_rss_mb"], 1.1, higher_is_better=False
            )
            if db == "sqlite" and kind in ("csv", "xlsx"):
                repeated = a if a.get("main", a["runs"] > 1) else b
                targets[f"{db}_{kind}_chunks_per_s>=20k"] = c.verdict(repeated["chunks_per_s"], 20_000)
        ratios[f"{db}_insert_chunks_per_s"] = round(result["insert_rate"])
        targets[f"{db}_insert>=20k/s"] = c.verdict(result["insert_rate"], 20_000)
        ratios[f"{db}_insert_chunks_per_s_without_keyword_index"] = round(result["insert_rate_unindexed"])
        print(
            f"[{db}] ChunkWriter alone: {result['insert_rate']:,.0f} chunks/s; without the keyword index "
            f"{result['insert_rate_unindexed']:,.0f} chunks/s",
            flush=True,
        )
    c.print_table(
        [
            "db",
            "file",
            "upload→done s",
            "in worker s",
            "extraction alone s",
            "overhead ×",
            "chunks",
            "chunks/s",
            "pool RSS MB",
            "extraction child RSS MB",
            "runs",
        ],
        rows,
    )
    c.print_result("pipeline", ratios, targets=targets)


if __name__ == "__main__":
    main()
