"""Figure 1: chunking throughput (MB/s) of sources.chunking.split_text against LangChain, chonkie and semchunk.

Usage: ``python benchmarks/chunking.py [--quick] [--mb 20] [--input FILE]``.
Every splitter gets the same text, chunk size 1,000 characters and (where it has one) overlap 150.
"Lost" counts non-whitespace characters that no chunk covers (chunks are located in the text in order).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

CHUNK_SIZE = 1000
OVERLAP = 150


def coverage_loss(text: str, chunks: list[str]) -> tuple[int, int]:
    """(non-whitespace characters not covered by any chunk, chunks not found verbatim in order)."""
    lost = 0
    missing = 0
    covered_to = 0  # end of the covered prefix
    prev_start = -1
    find = text.find
    for chunk in chunks:
        start = find(chunk, prev_start + 1)
        if start < 0:
            missing += 1
            continue
        if start > covered_to:
            gap = text[covered_to:start]
            lost += len(gap) - sum(gap.count(ch) for ch in " \t\n\r\x0b\x0c")
        covered_to = max(covered_to, start + len(chunk))
        prev_start = start
    tail = text[covered_to:]
    lost += len(tail) - sum(tail.count(ch) for ch in " \t\n\r\x0b\x0c")
    return lost, missing


def splitters() -> list[tuple[str, str, object]]:
    from sources.chunking import split_text

    out: list[tuple[str, str, object]] = [
        ("botsmith split_text", "overlap 150, word-boundary", lambda t: split_text(t, CHUNK_SIZE, OVERLAP)),
    ]
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    lc = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP)
    out.append(("langchain RecursiveCharacterTextSplitter", "overlap 150", lc.split_text))
    from chonkie import RecursiveChunker

    ch = RecursiveChunker(tokenizer="character", chunk_size=CHUNK_SIZE)
    out.append(("chonkie RecursiveChunker", "no overlap option", lambda t: [x.text for x in ch.chunk(t)]))
    import semchunk

    sc = semchunk.chunkerify(len, CHUNK_SIZE)
    out.append(("semchunk", "overlap 150", lambda t: sc(t, overlap=OVERLAP)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 MB instead of 20")
    parser.add_argument("--mb", type=float, default=None)
    parser.add_argument("--input", help="a UTF-8 text file to chunk instead of the built-in prose")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    c.setup_path()
    size_mb = args.mb or (2 if args.quick else 20)
    text = c.prose(int(size_mb * c.MB), args.input)
    mb = len(text.encode("utf-8")) / c.MB
    print(
        f"chunking {mb:.1f} MB ({len(text):,} characters), chunk_size={CHUNK_SIZE}, overlap={OVERLAP}, "
        f"median of {args.repeat}",
        flush=True,
    )
    rows = []
    speed: dict[str, float] = {}
    ours_lost = None
    for name, note, fn in splitters():
        seconds, chunks = c.timed(lambda fn=fn: fn(text), args.repeat)
        lost, missing = coverage_loss(text, chunks)
        if name.startswith("botsmith"):
            ours_lost = lost + missing
        speed[name] = mb / seconds
        rows.append(
            [
                name,
                round(mb / seconds, 2),
                round(seconds, 3),
                len(chunks),
                max(len(x) for x in chunks),
                f"{lost:,} chars" + (f", {missing} not verbatim" if missing else ""),
                note,
            ]
        )
    c.print_table(["splitter", "MB/s", "seconds", "chunks", "max chunk", "text lost", "notes"], rows)
    ours = speed["botsmith split_text"]
    ratios = {
        "ours_vs_langchain": round(ours / speed["langchain RecursiveCharacterTextSplitter"], 2),
        "ours_vs_chonkie": round(ours / speed["chonkie RecursiveChunker"], 2),
        "ours_vs_semchunk": round(ours / speed["semchunk"], 2),
    }
    targets = {
        "ours_vs_langchain>=2": c.verdict(ratios["ours_vs_langchain"], 2.0),
        "ours_loses_no_text": "met" if ours_lost == 0 else "MISSED",
    }
    print_mb = {k: round(v, 2) for k, v in speed.items()}
    c.print_result("chunking", ratios, targets=targets, mb_per_s=print_mb, input_mb=round(mb, 1))


if __name__ == "__main__":
    main()
