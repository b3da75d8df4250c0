"""The per-database half of benchmarks/retrieval.py: load the labelled chunks, embed, search, time.

Runs in a child process whose ``DATABASE_URL`` names the database under test, and writes its
figures as JSON for the parent to print.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _common as c
import _retrieval_data as data

FILLER_PER_SOURCE = 10_000
INSERT_BATCH = 5_000


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def filler_texts(n: int, seed: int) -> list[str]:
    """``n`` chunks of about 1,000 characters: random real sentences (CPython's docs), cut at a word."""
    sentences = c._sentences()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        size = 0
        while size < 950:
            s = rng.choice(sentences)
            parts.append(s)
            size += len(s) + 1
        text = " ".join(parts)
        if len(text) > 1000:
            text = text[: text.rfind(" ", 0, 1000)]
        out.append(text)
    return out


class Loader:
    """Creates the throwaway chatbot, its sources and their active chunks (bulk, like ingestion)."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from botsmith.models import Chatbot

        user_model = get_user_model()
        # A previous run that crashed may have left its rows (PostgreSQL database is reused).
        user_model.objects.filter(username=BENCH_USER).delete()
        purge_orphan_vectors()
        self.user = user_model.objects.create_user(BENCH_USER)
        self.chatbot = Chatbot.objects.create(owner=self.user, name="Retrieval benchmark")

    def add_source(self, name: str, filename: str, texts: list[str], metas: list[dict] | None = None):
        from sources.chunking import approx_tokens, content_hash
        from sources.models import Chunk, Source

        source = Source.objects.create(
            chatbot=self.chatbot, kind=Source.Kind.FILE, status=Source.Status.COMPLETED, name=name,
            original_filename=filename, file_kind="txt", progress=100, generation=1, active_generation=1,
            chunk_count=len(texts), char_count=sum(len(t) for t in texts), unit_name="lines",
        )
        metas = metas or [{} for _ in texts]
        for start in range(0, len(texts), INSERT_BATCH):
            Chunk.objects.bulk_create(
                [
                    Chunk(source=source, chatbot=self.chatbot, generation=1, is_active=True, ordinal=start + i,
                          text=t, char_count=len(t), token_count=approx_tokens(t), content_hash=content_hash(t),
                          metadata=m)
                    for i, (t, m) in enumerate(zip(texts[start:start + INSERT_BATCH], metas[start:start + INSERT_BATCH],
                                                   strict=True))
                ],
                batch_size=1000,
            )
        return source

    def active_chunks(self) -> int:
        from sources.models import Chunk

        return Chunk.objects.filter(chatbot=self.chatbot, is_active=True).count()

    def delete(self) -> None:
        self.user.delete()
        purge_orphan_vectors()


def purge_orphan_vectors() -> int:
    """Vectors are keyed by text, not chunk, and outlive deleted chunks; in the benchmark's own
    database, drop every vector no chunk uses, so a rerun embeds (and times) from scratch."""
    from retrieval.models import Embedding
    from sources.models import Chunk

    deleted, _ = Embedding.objects.exclude(content_hash__in=Chunk.objects.values("content_hash")).delete()
    return deleted


BENCH_USER = "retrieval-bench"


def labelled_chunks(doc: data.Document) -> tuple[list[str], list[dict]]:
    """Each distinct chunk text once, as ``ChunkWriter`` stores them."""
    seen: set[str] = set()
    texts, metas = [], []
    for text, meta in zip(doc.chunks, doc.metadata, strict=True):
        if text.strip() and text not in seen:
            seen.add(text)
            texts.append(text)
            metas.append(meta)
    return texts, metas


def embed(embed_source_now, sources: list) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = sum(embed_source_now(s.pk) for s in sources)
    return n, time.perf_counter() - t0


def evaluate(search, chatbot, questions: list[data.Question], doc_of: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("keyword", "semantic", "hybrid"):
        ranks: dict[str, int | None] = {}
        used: Counter[str] = Counter()
        notices: Counter[str] = Counter()
        detail = {}
        times = []
        for q in questions:
            t0 = time.perf_counter()
            result = search(chatbot, q.question, k=10, mode=mode)
            times.append(time.perf_counter() - t0)
            hits = [(doc_of.get(h.source_id, "?"), h.text) for h in result.results]
            ranks[q.qid] = data.first_hit_rank(q, hits)
            used[result.mode_used] += 1
            if result.notice:
                notices[result.notice] += 1
            detail[q.qid] = {
                "rank": ranks[q.qid],
                "top": [[doc_of.get(h.source_id, "?"), h.ordinal, round(float(h.score), 4)]
                        for h in result.results[:3]],
                "n": len(result.results),
            }
        out[mode] = {"ranks": ranks, "mode_used": dict(used), "notices": dict(notices), "detail": detail,
                     "p50_ms": sorted(times)[len(times) // 2] * 1000}
    return out


def time_modes(search, chatbot, questions: list[data.Question], budget: float) -> dict[str, dict[str, Any]]:
    """Search latency per mode. The modes take turns on each question, so a change in the machine's
    load (other test suites share these 2 cores) affects every mode alike."""
    modes = ("keyword", "semantic", "hybrid")
    first: dict[str, float] = {}
    used: dict[str, Counter[str]] = {mode: Counter() for mode in modes}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for mode in modes:  # the first search of a mode may load the chatbot's vectors
        t0 = time.perf_counter()
        used[mode][search(chatbot, questions[0].question, k=10, mode=mode).mode_used] += 1
        first[mode] = (time.perf_counter() - t0) * 1000
    start = time.perf_counter()
    for q in questions[1:]:
        for mode in modes:
            t0 = time.perf_counter()
            result = search(chatbot, q.question, k=10, mode=mode)
            times[mode].append(time.perf_counter() - t0)
            used[mode][result.mode_used] += 1
        if time.perf_counter() - start > budget and len(times["keyword"]) >= 10:
            break
    percentile = data.percentile
    return {
        mode: {"n": len(t), "p50_ms": percentile(t, 0.5) * 1000, "p95_ms": percentile(t, 0.95) * 1000,
               "mean_ms": sum(t) / len(t) * 1000, "first_ms": first[mode], "mode_used": dict(used[mode])}
        for mode, t in times.items()
    }


def time_query_embedding(questions: list[data.Question], budget: float) -> dict[str, Any] | None:
    """The part of a semantic search spent embedding the question (the backend alone)."""
    from retrieval.embeddings import get_backend

    backend = get_backend()
    if backend is None:
        return None
    times: list[float] = []
    start = time.perf_counter()
    for q in questions:
        t0 = time.perf_counter()
        backend.embed([q.question])
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget and len(times) >= 10:
            break
    percentile = data.percentile
    return {"n": len(times), "p50_ms": percentile(times, 0.5) * 1000, "p95_ms": percentile(times, 0.95) * 1000,
            "mean_ms": sum(times) / len(times) * 1000, "first_ms": None, "mode_used": {}}


def attach_filler_vectors(sources: list) -> float | None:
    """Give the filler chunks vectors without running the model on each (100k would take hours on 2
    cores): random unit vectors stored under the configured model's key, as ``embed_source_now``
    stores real ones. Exact search costs the same whatever the values. ``None``: keyword only."""
    import numpy as np
    from django.utils import timezone

    from retrieval.embeddings import get_backend
    from retrieval.models import Embedding
    from sources.models import Chunk, Source

    backend = get_backend()
    if backend is None:
        return None
    key = backend.key
    dimension = int(key.rsplit(":", 1)[-1])
    rng = np.random.default_rng(len(sources))
    t0 = time.perf_counter()
    for source in sources:
        hashes = list(Chunk.objects.filter(source=source, is_active=True).values_list("content_hash", flat=True))
        for start in range(0, len(hashes), INSERT_BATCH):
            part = hashes[start:start + INSERT_BATCH]
            vectors = rng.standard_normal((len(part), dimension)).astype("<f4")
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = [Embedding(model_key=key, content_hash=h, vector=v.tobytes())
                    for h, v in zip(part, vectors, strict=True)]
            Embedding.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        Source.objects.filter(pk=source.pk).update(
            index_status=Source.IndexStatus.READY, index_model=key, embedded_count=len(hashes),
            index_updated_at=timezone.now(),
        )
    return time.perf_counter() - t0


def child_main(args: argparse.Namespace) -> None:
    import sys

    c.setup_django()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    try:
        from retrieval.services.embedding import embed_source_now
        from retrieval.services.search import search
    except ImportError as exc:
        raise SystemExit(f"retrieval.services.search / embedding missing: merge main first ({exc})") from exc

    db = args.child
    docs = data.load_documents()
    questions = data.load_questions()
    loader = Loader()
    result: dict[str, Any] = {"db": db, "backend": getattr(settings, "EMBEDDINGS_BACKEND", "?")}
    try:
        sources = []
        doc_of: dict[int, str] = {}
        for doc in docs:
            texts, metas = labelled_chunks(doc)
            src = loader.add_source(doc.title, doc.doc_id, texts, metas)
            sources.append(src)
            doc_of[src.pk] = doc.doc_id
        corpus_chunks = loader.active_chunks()
        print(f"  {db}: {corpus_chunks} labelled chunks stored", flush=True)

        rss_before = _rss_now_mb()
        warm = loader.add_source("Warm-up", "warm-up.txt", ["The model loads on the first call."])
        _, load_s = embed(embed_source_now, [warm])
        warm.delete()
        n, seconds = embed(embed_source_now, sources)
        corpus_chars = sum(len(t) for d in docs for t in labelled_chunks(d)[0])
        embedding = {"load_s": load_s, "rss_before_mb": rss_before, "corpus_chunks": n,
                     "corpus_mean_chars": corpus_chars / max(1, corpus_chunks),
                     "corpus_chunks_per_s": n / seconds if seconds else 0.0}
        print(f"  {db}: embedded {n} chunks in {seconds:.1f}s (model load {load_s:.1f}s)", flush=True)

        result["quality"] = evaluate(search, loader.chatbot, questions, doc_of)
        for mode, q in result["quality"].items():
            mrr = sum(1 / r for r in q["ranks"].values() if r) / len(q["ranks"])
            print(f"  {db}: {mode} MRR@10 {mrr:.3f} (used {q['mode_used']})", flush=True)

        fillers: list = []
        if args.rate_chunks:
            texts = filler_texts(args.rate_chunks, seed=7)
            rate_src = loader.add_source("Embedding rate set", "rate.txt", texts)
            fillers.append(rate_src)
            n, seconds = embed(embed_source_now, [rate_src])
            embedding.update({"rate_chunks": n, "rate_mean_chars": sum(map(len, texts)) / len(texts),
                              "rate_chunks_per_s": n / seconds if seconds else 0.0})
            print(f"  {db}: embedding rate {n / seconds:.1f} chunks/s on ~1,000-char chunks", flush=True)
        embedding["peak_rss_mb"] = c.peak_rss_mb()
        result["embedding"] = embedding

        result["latency"] = {}
        result["fill"] = {}
        for size in sorted(int(s) for s in args.sizes.split(",") if s):
            need = size - loader.active_chunks()
            t0 = time.perf_counter()
            new_sources = []
            seed = 1000 + len(fillers)
            while need > 0:
                batch = min(need, FILLER_PER_SOURCE)
                texts = filler_texts(batch, seed=seed)
                seed += 1
                name = f"Filler {len(fillers) + len(new_sources) + 1}"
                new_sources.append(loader.add_source(name, "filler.txt", texts))
                need -= batch
            seconds = time.perf_counter() - t0
            added = sum(s.chunk_count for s in new_sources)
            fill: dict[str, Any] = {"seconds": seconds, "chunks_per_s": added / seconds if seconds else 0.0}
            vectors_s = attach_filler_vectors(new_sources)
            if vectors_s is not None:
                fill["vectors_s"] = vectors_s
            fillers += new_sources
            result["fill"][str(size)] = fill
            total = loader.active_chunks()
            print(f"  {db}: {total} active chunks ({added} filler added in {seconds:.1f}s)", flush=True)
            result["latency"][str(size)] = {}
            embed_ms = time_query_embedding(questions, args.budget / 3)
            if embed_ms:
                result["latency"][str(size)]["query embedding"] = embed_ms
            for mode, m in time_modes(search, loader.chatbot, questions, 3 * args.budget).items():
                result["latency"][str(size)][mode] = m
                print(f"  {db} {size} {mode}: p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms over {m['n']} "
                      f"(first {m['first_ms']:.0f} ms, used {m['mode_used']})", flush=True)
    finally:
        if db != "sqlite":  # the SQLite file is deleted by the parent
            t0 = time.perf_counter()
            loader.delete()
            print(f"  {db}: benchmark rows deleted in {time.perf_counter() - t0:.1f}s", flush=True)
    Path(args.out).write_text(json.dumps(result))
    sys.stdout.flush()
