"""Tesseract OCR for page images: one engine process per page, as many at once as there are cores."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any, TypeVar

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.base import ExtractionLimits

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL_HINT = (
    "Install Tesseract on the worker machines (Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-eng) "
    "and upload the file again."
)
OCR_MODES = ("auto", "always", "never")
PAGE_TIMEOUT_SECONDS = 300
_PR_SET_PDEATHSIG = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OcrResult:
    text: str
    confidence: float | None  # mean word confidence, 0-100; None when no word was found
    words: int


def _die_with_parent() -> None:  # pragma: no cover - runs in the engine process
    # A cancelled run kills the extraction child; its engine processes must not outlive it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _engine_env() -> dict[str, str]:
    # One thread per engine: we already run one engine per core, and Tesseract's own OpenMP
    # threads on top would oversubscribe the cores.
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def installed_languages(command: str = "tesseract") -> list[str] | None:
    """The language packs Tesseract can load, or None when the engine is not installed."""
    path = shutil.which(command)
    if path is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False, env=_engine_env()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    lines = (done.stdout or done.stderr).splitlines()
    return [line.strip() for line in lines[1:] if line.strip()]


def check_available(limits: ExtractionLimits) -> None:
    """Raise ``ocr_unavailable`` with what to install when the engine or a language is missing."""
    langs = installed_languages(limits.ocr_command)
    if langs is None:
        raise ProcessingError(ErrorCode.OCR_UNAVAILABLE, f"This file needs OCR, but Tesseract is not installed. "
                              f"{INSTALL_HINT}")
    missing = [lang for lang in limits.ocr_languages.split("+") if lang and lang not in langs]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
        raise ProcessingError(
            ErrorCode.OCR_UNAVAILABLE,
            f"This file needs OCR in {', '.join(missing)}, but that language data is not installed. "
            f"Install it on the worker machines (Debian/Ubuntu: apt-get install {packages}) or change OCR_LANGUAGES.",
        )


def to_engine_image(image: Image) -> bytes:
    """Grayscale PGM: uncompressed, so encoding costs nothing next to recognition."""
    if image.mode != "L":
        image = image.convert("L")
    out = BytesIO()
    image.save(out, format="PPM")
    return out.getvalue()


def recognise(data: bytes, limits: ExtractionLimits) -> OcrResult:
    """Run one page through ``tesseract stdin stdout tsv`` and rebuild its lines and paragraphs."""
    command = shutil.which(limits.ocr_command)
    if command is None:
        raise ProcessingError(ErrorCode.OCR_UNAVAILABLE, f"Tesseract is not installed. {INSTALL_HINT}")
    args = [command, "stdin", "stdout", "-l", limits.ocr_languages or "eng", "--psm", "3", "tsv"]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            args, input=data, capture_output=True, timeout=PAGE_TIMEOUT_SECONDS, check=False,
            env=_engine_env(), preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProcessingError(ErrorCode.TOO_LARGE, "Reading a page by OCR took longer than allowed.") from exc
    if done.returncode != 0:
        raise OSError(f"tesseract exited with {done.returncode}: {done.stderr[-500:]!r}")
    return parse_tsv(done.stdout.decode("utf-8", "replace"))


def parse_tsv(tsv: str) -> OcrResult:
    """Words (level 5) joined into lines; a new block or paragraph starts a new paragraph."""
    paragraphs: list[list[str]] = []
    lines: list[str] = []
    words: list[str] = []
    confidences: list[float] = []
    last_par: tuple[str, str] | None = None
    last_line: tuple[str, str, str] | None = None
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11].strip()
        if not word:
            continue
        par, line = (cols[2], cols[3]), (cols[2], cols[3], cols[4])
        if line != last_line and words:
            lines.append(" ".join(words))
            words = []
        if par != last_par and lines:
            paragraphs.append(lines)
            lines = []
        last_par, last_line = par, line
        words.append(word)
        with contextlib.suppress(ValueError):
            conf = float(cols[10])
            if conf >= 0:
                confidences.append(conf)
    if words:
        lines.append(" ".join(words))
    if lines:
        paragraphs.append(lines)
    text = "\n\n".join("\n".join(p) for p in paragraphs)
    mean = round(sum(confidences) / len(confidences), 1) if confidences else None
    return OcrResult(text, mean, len(confidences))


def worker_count(limits: ExtractionLimits) -> int:
    return max(1, limits.ocr_workers or len(os.sched_getaffinity(0)))


def ordered_parallel(
    items: Iterable[T],
    prepare: Callable[[T], Any],
    work: Callable[[Any], Any],
    workers: int,
) -> Iterator[tuple[T, Any]]:
    """``(item, work(prepare(item)))`` in input order, ``workers`` at a time.

    ``prepare`` runs in the calling thread (pdfium and Pillow decoding are not thread-safe);
    a ``prepare`` that returns None is passed through without work. At most ``workers + 1``
    prepared inputs (page bitmaps) are alive at once, which bounds memory.
    """
    pending: deque[tuple[T, Future[Any] | None]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
        try:
            for item in items:
                prepared = prepare(item)
                pending.append((item, None if prepared is None else pool.submit(work, prepared)))
                del prepared
                while len(pending) > workers or (pending and (pending[0][1] is None or pending[0][1].done())):
                    head, future = pending.popleft()
                    yield head, None if future is None else future.result()
            while pending:
                head, future = pending.popleft()
                yield head, None if future is None else future.result()
        finally:
            for _, future in pending:
                if future is not None:
                    future.cancel()
