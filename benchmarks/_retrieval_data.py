"""The retrieval benchmark's labelled set: documents chunked as ingestion does, and the questions.

Pure (no Django models): the documents go through the same extractor, ``clean_text`` and
``chunk_segments`` (size 1,000, overlap 150) as an uploaded ``.md``/``.txt`` file. A question's
label is its document plus a short verbatim snippet of the answer; a returned chunk is a hit
when it belongs to that document and contains the snippet (whitespace-normalised), so labels
survive re-chunking with other sizes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "retrieval"
CHUNK_SIZE = 1000
CHUNK_OVERLAP = 150
KINDS = ("lexical", "paraphrase")
TOP_K = 10


@dataclass(slots=True)
class Document:
    doc_id: str  # the file's stem
    title: str
    text: str  # the cleaned text, segments joined
    chunks: list[str] = field(default_factory=list)
    metadata: list[dict] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Question:
    qid: str
    doc_id: str
    kind: str
    question: str
    snippet: str


def norm(text: str) -> str:
    """Whitespace-insensitive form for snippet matching (chunk cuts and cleaning move spaces)."""
    return " ".join(text.split()).lower()


def load_documents(chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP) -> list[Document]:
    from sources.chunking import chunk_segments
    from sources.cleaning import clean_text
    from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment
    from sources.extractors.txt import TxtExtractor

    manifest = json.loads((DATA / "documents.json").read_text(encoding="utf-8"))
    docs = []
    for entry in manifest["documents"]:
        path = DATA / "docs" / entry["file"]
        extractor = TxtExtractor(markdown=path.suffix == ".md")
        segments = []
        with path.open("rb") as fh:
            for seg in extractor.extract(fh, limits=ExtractionLimits(), stats=ExtractionStats()):
                text = clean_text(seg.text)
                if text:
                    segments.append(Segment(text, seg.metadata, seg.boundary))
        drafts = list(chunk_segments(segments, chunk_size, chunk_overlap))
        docs.append(
            Document(
                doc_id=path.stem,
                title=entry["title"],
                text="\n\n".join(s.text for s in segments),
                chunks=[d.text for d in drafts],
                metadata=[d.metadata for d in drafts],
            )
        )
    return docs


def load_questions() -> list[Question]:
    out = []
    with (DATA / "questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(Question(row["id"], row["doc"], row["kind"], row["q"], row["snippet"]))
    return out


def check_labels(docs: list[Document], questions: list[Question]) -> list[str]:
    """Problems with the labels: unknown document or kind, a snippet absent or not unique in its
    document, or cut by every chunk boundary (so no chunk could be a hit)."""
    by_id = {d.doc_id: d for d in docs}
    problems = []
    seen = set()
    for q in questions:
        if q.qid in seen:
            problems.append(f"{q.qid}: duplicate id")
        seen.add(q.qid)
        doc = by_id.get(q.doc_id)
        if doc is None or q.kind not in KINDS:
            problems.append(f"{q.qid}: unknown document {q.doc_id!r} or kind {q.kind!r}")
            continue
        snippet = norm(q.snippet)
        count = norm(doc.text).count(snippet)
        if count != 1:
            problems.append(f"{q.qid}: snippet {q.snippet!r} occurs {count} times in {q.doc_id}")
        elif not any(snippet in norm(chunk) for chunk in doc.chunks):
            problems.append(f"{q.qid}: snippet {q.snippet!r} is in no single chunk of {q.doc_id}")
    return problems


def is_hit(question: Question, doc_id: str, text: str) -> bool:
    return doc_id == question.doc_id and norm(question.snippet) in norm(text)


# --- metrics ------------------------------------------------------------------------------


def first_hit_rank(question: Question, results: list[tuple[str, str]]) -> int | None:
    """1-based rank of the first (doc_id, text) result that answers ``question``, within the top K."""
    for rank, (doc_id, text) in enumerate(results[:TOP_K], start=1):
        if is_hit(question, doc_id, text):
            return rank
    return None


def scores(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None) / n,
    }


def paired_bootstrap(a: list[int | None], b: list[int | None], rounds: int = 5000) -> tuple[float, float, float]:
    """MRR@10 of ``a`` minus ``b`` over the same questions, with a 95% paired-bootstrap interval."""
    diffs = [(1 / x if x else 0.0) - (1 / y if y else 0.0) for x, y in zip(a, b, strict=True)]
    rng = random.Random(11)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(rounds))
    return sum(diffs) / n, means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
