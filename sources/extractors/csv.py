"""CSV extraction: sniffed dialect, incremental decoding, rows as "Header: value" records."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors._common import (
    CharBudget,
    record_segments,
    rewind,
    wrap_text,
)
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.encoding import SAMPLE_SIZE, detect_encoding

FIELD_CAP = 10 * 1024 * 1024  # characters in one field or one physical line
DELIMITERS = ",;\t|"

# The default limit (128 KiB) rejects legitimate long cells; the cap keeps one record bounded.
# Process-wide, but every caller in this project wants the same cap.
csv.field_size_limit(FIELD_CAP)


class _Dialect(csv.Dialect):
    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = False


def sniff_delimiter(sample: str) -> str:
    """Delimiter from ``csv.Sniffer``; else the candidate most used on the first line; else ",".

    Only the delimiter is taken from the sniffer: its quote-character guesses are unreliable
    and real-world CSV almost always quotes with ``"``.
    """
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
        if found in DELIMITERS:
            return found
    except csv.Error:
        pass
    first_line = sample.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _lines(text: IO[str]) -> Iterator[str]:
    """Physical lines, each read with a size cap so a file without newlines stays bounded."""
    while True:
        line = text.readline(FIELD_CAP + 1)
        if not line:
            return
        if len(line) > FIELD_CAP:
            raise ProcessingError(ErrorCode.TOO_LARGE, "This CSV file has a line that is too long to process.")
        yield line


class CsvExtractor:
    """Row numbers in metadata count CSV records (the header is record 1), not physical lines."""

    kind = "csv"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        sample = stream.read(SAMPLE_SIZE) or b""
        complete = len(sample) < SAMPLE_SIZE
        encoding = detect_encoding(sample, complete=complete)
        sample_text = sample.decode(encoding, errors="replace")
        if not sample_text.strip() and complete:
            raise ProcessingError(ErrorCode.EMPTY, "The file is empty.")
        if not complete and "\n" in sample_text:
            sample_text = sample_text[: sample_text.rindex("\n")]
        dialect = type("Sniffed", (_Dialect,), {"delimiter": sniff_delimiter(sample_text)})
        stats.engine = f"csv ({encoding})"
        stats.unit_name = "rows"
        stream.seek(0)
        text = wrap_text(stream, encoding)
        try:
            yield from _records(csv.reader(_lines(text), dialect), limits, stats, progress)
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise ProcessingError(ErrorCode.TOO_LARGE, "This CSV file has a field that is too large.") from exc
            raise ProcessingError(ErrorCode.CORRUPT, f"This CSV file could not be read ({exc}).") from exc
        finally:
            text.detach()


def _records(
    reader: Iterator[list[str]],
    limits: ExtractionLimits,
    stats: ExtractionStats,
    progress: ProgressCallback | None,
) -> Iterator[Segment]:
    emitted = False
    for segment in record_segments(None, enumerate(reader, start=1), limits, stats, CharBudget(limits, stats),
                                   progress):
        emitted = True
        yield segment
    if progress:
        progress(stats)
    if not emitted:
        raise ProcessingError(ErrorCode.EMPTY, "The file is empty.")
