"""Figure 5: retrieval quality and speed of retrieval.services.search, with bm25s as the peer.

Usage: ``python benchmarks/retrieval.py [--quick] [--db sqlite,postgres] [--sizes 10000,100000]``.

Quality: 12 real documents (``benchmarks/data/retrieval/``: Python's reference topics, Node.js API
pages, the pyenv README) chunked as ingestion does (size 1,000, overlap 150) into one throwaway
chatbot; 158 questions, half reusing the documents' words ("lexical"), half paraphrased. A question
hits when a returned chunk of its document contains its answer snippet. hit@1, hit@5 and MRR@10 per
mode (keyword, semantic, hybrid) and kind, and for bm25s (PyStemmer, English stop words) over the
very same chunk texts.

Speed: filler chunks (~1,000 characters of real sentences) are added to the same chatbot up to 10k
and 100k active chunks; search p50/p95 per mode, in process. Embedding: chunks/s of
``embed_source_now`` on ~1,000-character chunks after the model is loaded, and peak RSS.

Each database runs in its own child process (settings are per process): a fresh SQLite file under
``var/bench/`` and the PostgreSQL database ``botsmith_bench`` (created if missing; only this
benchmark's user and its rows are deleted, before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
import _retrieval_data as data

MODES = ("keyword", "semantic", "hybrid")
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "botsmith_bench")
BENCH_USER = "retrieval-bench"
BENCH_SECRET = "retrieval-benchmark-only-0123456789-abcdefghijklmnopqrstuvwxyz"
SQLITE_PATH = c.CACHE / "retrieval.sqlite3"
MISSING_SERVICE = (
    "retrieval.services.search is not importable on this branch: merge main once the search service "
    "has landed, then run this benchmark again."
)


# --- the peer: bm25s on the same chunk texts -------------------------------------------------------


def run_bm25s(docs: list[data.Document], questions: list[data.Question]) -> dict[str, Any]:
    import bm25s
    import Stemmer

    corpus = [(d.doc_id, text) for d in docs for text in dedupe(d.chunks)]
    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([t for _, t in corpus], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    index_s = time.perf_counter() - t0
    ranks: dict[str, int | None] = {}
    times = []
    for q in questions:
        t0 = time.perf_counter()
        tokens = bm25s.tokenize([q.question], stopwords="en", stemmer=stemmer, show_progress=False)
        found, _ = retriever.retrieve(tokens, k=min(data.TOP_K, len(corpus)), show_progress=False)
        times.append(time.perf_counter() - t0)
        ranks[q.qid] = data.first_hit_rank(q, [corpus[i] for i in found[0]])
    return {"ranks": ranks, "index_s": index_s, "p50_ms": data.percentile(times, 0.5) * 1000}


def dedupe(texts: list[str]) -> list[str]:
    """What ``ChunkWriter`` stores: each distinct chunk text of a document once."""
    seen: set[str] = set()
    out = []
    for text in texts:
        if text.strip() and text not in seen:
            seen.add(text)
            out.append(text)
    return out


# --- parent: one child run per database ------------------------------------------------------------


def ensure_pg_database() -> None:
    exists = subprocess.run(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(["createdb", "-h", PG_HOST, "-U", PG_USER, PG_DB], check=True)


def database_url(db: str) -> str:
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_PATH}"
    ensure_pg_database()
    return f"postgres://{PG_USER}@{PG_HOST}:5432/{PG_DB}"


def run_child(db: str, args: argparse.Namespace, rate_chunks: int) -> dict[str, Any]:
    c.CACHE.mkdir(parents=True, exist_ok=True)
    out = c.CACHE / f"retrieval-{db}.json"
    out.unlink(missing_ok=True)
    broker = c.CACHE / "retrieval-broker"
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url(db),
        # Nothing here should enqueue; if something does, it stays in a private folder instead of
        # reaching a shared Redis where another checkout's worker could pick it up.
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(broker),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "botsmith.settings",
    })
    env.setdefault("SECRET_KEY", BENCH_SECRET)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", db, "--out", str(out),
           "--sizes", args.sizes, "--rate-chunks", str(rate_chunks), "--budget", str(args.budget)]
    proc = subprocess.run(cmd, cwd=c.ROOT, env=env, check=False, timeout=1800)
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"{db}: the child run failed (exit {proc.returncode}); see its output above")
    return json.loads(out.read_text())


def quality_rows(label: str, ranks: dict[str, int | None], questions: list[data.Question]) -> list[list[Any]]:
    rows = []
    for kind in (*data.KINDS, "all"):
        subset = [ranks[q.qid] for q in questions if kind in ("all", q.kind)]
        s = data.scores(subset)
        rows.append([label, kind, len(subset), round(s["hit@1"], 3), round(s["hit@5"], 3), round(s["mrr@10"], 3)])
    return rows


def mrr(ranks: dict[str, int | None], ids: list[str]) -> float:
    return data.scores([ranks[i] for i in ids])["mrr@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="latency at 2k and 10k chunks, fewer queries")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--sizes", default=None, help="chunks per chatbot for latency (comma-separated)")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timed queries per mode and size")
    parser.add_argument("--rate-chunks", type=int, default=None, help="~1,000-char chunks for the embedding rate")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = args.sizes or ("2000,10000" if args.quick else "10000,100000")
    args.budget = args.budget if args.budget is not None else (8.0 if args.quick else 20.0)
    rate_chunks = args.rate_chunks if args.rate_chunks is not None else (64 if args.quick else 256)
    if args.child:
        import _retrieval_child

        _retrieval_child.child_main(args)
        return

    os.environ.setdefault("SECRET_KEY", BENCH_SECRET)
    c.setup_django()
    docs = data.load_documents()
    questions = data.load_questions()
    problems = data.check_labels(docs, questions)
    if problems:
        raise SystemExit("labelled set is inconsistent:\n  " + "\n  ".join(problems))
    try:
        import retrieval.services.search  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"{MISSING_SERVICE} ({exc})") from exc
    by_kind = {k: sum(1 for q in questions if q.kind == k) for k in data.KINDS}
    n_chunks = sum(len(dedupe(d.chunks)) for d in docs)
    print(
        f"retrieval: {len(docs)} documents, {n_chunks} chunks (size {data.CHUNK_SIZE}, overlap {data.CHUNK_OVERLAP}), "
        f"{len(questions)} questions ({', '.join(f'{v} {k}' for k, v in by_kind.items())}); "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    peer = run_bm25s(docs, questions)
    runs: dict[str, dict[str, Any]] = {}
    for i, db in enumerate(x for x in args.db.split(",") if x):
        print(f"== {db}", flush=True)
        runs[db] = run_child(db, args, rate_chunks if i == 0 else 0)

    print("\n**Quality** (158 questions; hit = a top-k chunk of the right document contains the answer snippet)\n")
    rows = quality_rows("bm25s (peer)", peer["ranks"], questions)
    for db, run in runs.items():
        for mode in MODES:
            used = run["quality"][mode]["mode_used"]
            note = "" if set(used) == {mode} else f" (ran as {', '.join(f'{k}×{v}' for k, v in used.items())})"
            rows += quality_rows(f"{db} {mode}{note}", run["quality"][mode]["ranks"], questions)
    c.print_table(["ranker", "questions", "n", "hit@1", "hit@5", "MRR@10"], rows)

    ratios: dict[str, Any] = {}
    targets: dict[str, str] = {}
    print("\n**Paired differences** (MRR@10, 95% paired-bootstrap interval)\n")
    diff_rows = []
    for db, run in runs.items():
        q = run["quality"]
        for kind in data.KINDS:
            ids = [x.qid for x in questions if x.kind == kind]
            hybrid = [q["hybrid"]["ranks"][i] for i in ids]
            best_single = max(("keyword", "semantic"), key=lambda m, ids=ids: mrr(q[m]["ranks"], ids))
            bm25s_ranks = [peer["ranks"][i] for i in ids]
            for left, label, a, b in (
                ("hybrid", "bm25s", hybrid, bm25s_ranks),
                ("hybrid", best_single, hybrid, [q[best_single]["ranks"][i] for i in ids]),
                ("keyword", "bm25s", [q["keyword"]["ranks"][i] for i in ids], bm25s_ranks),
            ):
                mean, lo, hi = data.paired_bootstrap(a, b)
                diff_rows.append([db, kind, f"{left} − {label}", round(mean, 3), f"[{lo:+.3f}, {hi:+.3f}]"])
            kw = data.scores([q["keyword"]["ranks"][i] for i in ids])["mrr@10"]
            bm = data.scores([peer["ranks"][i] for i in ids])["mrr@10"]
            hy = data.scores(hybrid)["mrr@10"]
            best = data.scores([q[best_single]["ranks"][i] for i in ids])["mrr@10"]
            ratios[f"{db}_{kind}_hybrid_mrr"] = round(hy, 3)
            ratios[f"{db}_{kind}_keyword_mrr"] = round(kw, 3)
            ratios[f"{db}_{kind}_semantic_mrr"] = round(mrr(q["semantic"]["ranks"], ids), 3)
            ratios[f"bm25s_{kind}_mrr"] = round(bm, 3)
            targets[f"{db}_{kind}_hybrid>=best_single"] = c.verdict(hy, best)
            targets[f"{db}_{kind}_keyword>=bm25s"] = c.verdict(kw, bm)
            if kind == "paraphrase":
                _, lo, _ = data.paired_bootstrap(hybrid, [peer["ranks"][i] for i in ids])
                targets[f"{db}_paraphrase_hybrid_clearly>bm25s"] = "met" if lo > 0 else "MISSED"
    c.print_table(["db", "questions", "difference", "MRR@10", "95% CI"], diff_rows)

    print("\n**Search latency** (in process, k=10, the benchmark's questions in turn)\n")
    lat_rows = []
    for db, run in runs.items():
        for size, per_mode in run["latency"].items():
            for mode, m in per_mode.items():
                used = ", ".join(f"{k}×{v}" for k, v in m["mode_used"].items())
                first = "" if m["first_ms"] is None else round(m["first_ms"], 1)
                lat_rows.append([db, int(size), mode, m["n"], round(m["p50_ms"], 1), round(m["p95_ms"], 1), first,
                                 used])
                ratios[f"{db}_{size}_{mode.replace(' ', '_')}_p95_ms"] = round(m["p95_ms"], 1)
    c.print_table(["db", "chunks", "mode", "queries", "p50 ms", "p95 ms", "first query ms", "mode used"], lat_rows)
    fill_rows = [[db, int(size), round(f["seconds"], 1), round(f["chunks_per_s"]),
                  round(f["vectors_s"], 1) if "vectors_s" in f else "none"]
                 for db, run in runs.items() for size, f in run["fill"].items()]
    if fill_rows:
        print()
        c.print_table(["db", "chunks", "filler insert s", "chunks/s", "filler vectors s"], fill_rows)

    print("\n**Embedding** (`embed_source_now`, the configured backend)\n")
    emb_rows = []
    for db, run in runs.items():
        e = run["embedding"]
        emb_rows.append([db, "labelled set", e["corpus_chunks"], round(e["corpus_mean_chars"]),
                         round(e["corpus_chunks_per_s"], 1), round(e["load_s"], 1), round(e["peak_rss_mb"])])
        if e.get("rate_chunks"):
            emb_rows.append([db, "~1,000-char chunks", e["rate_chunks"], round(e["rate_mean_chars"]),
                             round(e["rate_chunks_per_s"], 1), "", round(e["peak_rss_mb"])])
            ratios["embed_chunks_per_s"] = round(e["rate_chunks_per_s"], 1)
    c.print_table(["db", "set", "chunks", "mean chars", "chunks/s", "model load s", "peak RSS MB"], emb_rows)

    sqlite_100k = runs.get("sqlite", {}).get("latency", {}).get("100000", {})
    if sqlite_100k:
        targets["sqlite_100k_hybrid_p95<=50ms"] = c.verdict(sqlite_100k["hybrid"]["p95_ms"], 50, higher_is_better=False)
    if "embed_chunks_per_s" in ratios:
        targets["embed>=25_chunks_per_s"] = c.verdict(ratios["embed_chunks_per_s"], 25)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    c.print_result(
        "retrieval", ratios, targets=targets, questions=by_kind, chunks=n_chunks,
        bm25s_index_s=round(peer["index_s"], 3), loadavg=[round(x, 2) for x in os.getloadavg()],
        backend=next(iter(runs.values()))["backend"] if runs else None,
    )


if __name__ == "__main__":
    main()
