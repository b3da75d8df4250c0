"""Text encoding detection for CSV and TXT uploads that never fails."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

SAMPLE_SIZE = 64 * 1024
FALLBACK_ENCODING = "cp1252"

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> str | None:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def utf16_without_bom(sample: bytes) -> str | None:
    """Guess UTF-16 from the NUL pattern of mostly-ASCII text (every other byte is 0)."""
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    pairs = len(sample) // 2
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if odd_nuls > 0.3 * pairs and even_nuls < 0.05 * pairs:
        return "utf-16-le"
    if even_nuls > 0.3 * pairs and odd_nuls < 0.05 * pairs:
        return "utf-16-be"
    return None


def _is_utf8(sample: bytes, complete: bool) -> bool:
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # The sample may end in the middle of a multi-byte character.
        return not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"


def detect_encoding(sample: bytes, *, complete: bool = False) -> str:
    """Return a codec name for ``sample`` (the start of a file).

    Order: BOM, strict UTF-8, UTF-16 by NUL pattern, charset-normalizer, then cp1252 (which,
    decoded with ``errors="replace"``, accepts any byte). ``complete`` says the sample is the
    whole file, so a truncated trailing character is a real error.
    """
    bom = bom_encoding(sample)
    if bom:
        return bom
    if not sample:
        return "utf-8"
    utf16 = utf16_without_bom(sample) if b"\x00" in sample else None
    if utf16:
        return utf16
    if _is_utf8(sample, complete):
        return "utf-8"
    if _few_isolated_high_bytes(sample):
        return FALLBACK_ENCODING
    best = from_bytes(sample).best()
    guess = None
    if best is not None and best.encoding:
        try:
            guess = codecs.lookup(best.encoding).name
        except LookupError:
            guess = None
    if guess is None or _prefer_cp1252(sample, guess):
        return FALLBACK_ENCODING
    return guess


SHORT_SAMPLE = 4096
FEW_HIGH_BYTES = 8
_HIGH_PAIR = re.compile(rb"[\x80-\xff]{2}")


def _few_isolated_high_bytes(sample: bytes) -> bool:
    """A short sample whose few non-ASCII bytes stand alone ("\xa9 ACME", "Besan\xe7on") is Western.

    On such input charset-normalizer has too little evidence and picks Shift-JIS, UTF-16 or an
    Urdu code page for a lone ``©``. Multi-byte and non-Latin text puts high bytes next to each
    other (a CJK character is a byte pair, a Cyrillic word a run), so one adjacent pair keeps
    the statistical guess.
    """
    if len(sample) > SHORT_SAMPLE:
        return False
    high = sum(1 for byte in sample if byte >= 0x80)
    return 0 < high <= FEW_HIGH_BYTES and _HIGH_PAIR.search(sample) is None


def _prefer_cp1252(sample: bytes, guess: str) -> bool:
    """Prefer cp1252 over another Latin-script guess.

    On short samples charset-normalizer often picks a Baltic or Central-European code page
    for French or German text ("Besançon" -> "Besanēon"). When cp1252 decodes the sample and
    the guess yields only Latin letters too, cp1252 (a superset of Latin-1 for text) is the
    likelier truth; a Cyrillic or Greek guess is kept.
    """
    if guess == FALLBACK_ENCODING:
        return True
    try:
        as_cp1252 = sample.decode(FALLBACK_ENCODING)
        guessed = set(sample.decode(guess, errors="replace"))
    except (UnicodeDecodeError, LookupError):
        return False
    if _SYMBOL_INSIDE_WORD.search(as_cp1252):
        return False  # "Za¿ó³æ": Polish cp1250 read as cp1252
    return not any(ch.isalpha() and ord(ch) > 0x24F for ch in guessed)


# A Latin-1 symbol (¡-¿, ×, ÷) between two letters: the bytes are letters in another code page.
_SYMBOL_INSIDE_WORD = re.compile("[^\\W\\d_][\u00a1-\u00bf\u00d7\u00f7][^\\W\\d_]")


def looks_like_text(head: bytes) -> bool:
    """True unless ``head`` has NULs that no UTF-16/32 text would explain (i.e. binary data)."""
    if not head or bom_encoding(head):
        return True
    if b"\x00" in head:
        return utf16_without_bom(head) is not None
    controls = sum(head.count(bytes([c])) for c in (*range(1, 8), *range(14, 27), *range(28, 32)))
    return controls <= max(8, len(head) // 100)
