"""Figure: local embedding throughput (chunks/s of ~1,000-character chunks), load time and peak RSS.

Usage: ``python benchmarks/embeddings.py [--quick] [--chunks 256] [--repeat 3]``.
Each setting (batch 8/32 × 1 thread/all cores) runs in a fresh process, so load time and peak RSS
are its own. The chunks are CPython's reference docs split by ``sources.chunking.split_text`` (1,000
characters, overlap 150), the same splitter the pipeline uses; 30-40 % of them exceed the model's
256 tokens. "chunks per CPU-s" is robust to other load on a shared machine: on an idle machine
chunks/s approaches it times the thread count. The peer is the plain numpy BERT encoder of
``retrieval.embeddings.bert`` (the same maths; it is the tests' reference path).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

GOAL_CHUNKS_PER_S = 25.0


def chunks(count: int) -> list[str]:
    from sources.chunking import split_text

    pieces = [p for p in split_text(c.prose_base(), 1000, 150) if len(p) >= 900]
    return pieces[:count]


def rss_mb() -> float:
    """Resident set size now (the peak includes the one-off graph build)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / c.MB


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(engine: str, batch: int, threads: int, count: int, repeat: int) -> None:
    """Runs in its own process; prints one JSON line."""
    c.setup_path()
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    texts = chunks(count)
    started = time.perf_counter()
    if engine == "onnx":
        from retrieval.embeddings.local import LocalBackend

        backend = LocalBackend(batch_size=batch, threads=threads)
        backend.load()
        embed = backend.embed
        tokens = [len(e.ids) for e in backend._tokenizer.encode_batch(texts)]
    else:
        import numpy as np
        from tokenizers import Tokenizer

        from retrieval.embeddings.base import l2_normalise
        from retrieval.embeddings.bert import BertConfig, encode_numpy, load_weights
        from retrieval.embeddings.local import model_dir, resolve_model

        path = model_dir(resolve_model("all-MiniLM-L6-v2"))
        weights, config = load_weights(path), BertConfig.from_dir(path)
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=256)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

        def embed(batch_texts: list[str]) -> object:
            enc = tokenizer.encode_batch(batch_texts)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            return l2_normalise(encode_numpy(weights, config, ids, mask))

        tokens = [sum(e.attention_mask) for e in tokenizer.encode_batch(texts)]
    load_s = time.perf_counter() - started
    embed(texts[:batch])  # warm-up: first-run allocations and kernel selection
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), cpu_seconds()
        for start in range(0, len(texts), batch):
            embed(texts[start : start + batch])
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(
        json.dumps(
            {
                "chunks": len(texts),
                "chars": round(statistics.mean(len(t) for t in texts)),
                "tokens": round(statistics.mean(tokens)),
                "truncated": round(sum(t >= 256 for t in tokens) / len(tokens), 2),
                "load_s": round(load_s, 2),
                "chunks_per_s": round(len(texts) / wall, 1),
                "chunks_per_cpu_s": round(len(texts) / cpu, 1),
                "peak_rss_mb": round(c.peak_rss_mb()),
                "rss_after_mb": round(rss_mb()),
                "load_avg": round(os.getloadavg()[0], 1),
            }
        )
    )


def run_child(engine: str, batch: int, threads: int, count: int, repeat: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, __file__, "--child", engine, str(batch), str(threads), str(count), str(repeat)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


COLUMNS = [
    "engine",
    "batch",
    "threads",
    "chunks/s",
    "chunks per CPU-s",
    "load s",
    "peak RSS MB",
    "RSS after MB",
    "load avg",
]
KEYS = ["chunks_per_s", "chunks_per_cpu_s", "load_s", "peak_rss_mb", "rss_after_mb", "load_avg"]


def row(engine: str, batch: int, threads: int, result: dict) -> list:
    return [engine, batch, threads, *(result[k] for k in KEYS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="64 chunks, one repeat")
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-peer", action="store_true", help="skip the slow numpy encoder")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, batch, threads, count, repeat = args.child
        child(engine, int(batch), int(threads), int(count), int(repeat))
        return
    count = args.chunks or (64 if args.quick else 256)
    repeat = args.repeat or (1 if args.quick else 3)
    cores = len(os.sched_getaffinity(0))
    settings = [(8, cores), (32, cores), (8, 1), (32, 1)] if cores > 1 else [(8, 1), (32, 1)]
    print(f"all-MiniLM-L6-v2, {count} chunks, median of {repeat}, each setting in a fresh process", flush=True)
    rows, results = [], {}
    for batch, threads in settings:
        r = run_child("onnx", batch, threads, count, repeat)
        results[f"b{batch}_t{threads}"] = r
        rows.append(row("ONNX Runtime fp32 (ours)", batch, threads, r))
    if not args.no_peer:
        r = run_child("numpy", 8, cores, min(count, 32), 1)
        results["numpy_b8"] = r
        rows.append(row("numpy encoder (peer)", 8, cores, r))
    first = next(iter(results.values()))
    print(
        f"chunks: {first['chars']} characters, {first['tokens']} tokens on average, "
        f"{first['truncated']:.0%} truncated at 256 tokens"
    )
    c.print_table(COLUMNS, rows)
    best = max(v["chunks_per_s"] for k, v in results.items() if k.startswith("b"))
    default = results.get(f"b32_t{cores}", results["b32_t1"])
    ratios = {"best_chunks_per_s": best, "default_chunks_per_s": default["chunks_per_s"]}
    if "numpy_b8" in results:
        ratios["ours_vs_numpy"] = round(
            results[f"b8_t{cores}"]["chunks_per_s"] / results["numpy_b8"]["chunks_per_s"], 1
        )
    targets = {f"chunks_per_s>={GOAL_CHUNKS_PER_S:g}": c.verdict(best, GOAL_CHUNKS_PER_S)}
    c.print_result("embeddings", ratios, targets=targets, settings=results)


if __name__ == "__main__":
    main()
