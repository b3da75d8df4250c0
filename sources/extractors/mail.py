"""E-mail (.eml) and mailboxes (.mbox): a header block, the plain body, and attachments in supported formats."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from email import errors as email_errors
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from typing import IO, Any

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import detect_kind, get_extractor
from sources.extractors._common import CharBudget, rewind, truncate_notice
from sources.extractors.base import ExtractionLimits, ExtractionStats, ProgressCallback, Segment
from sources.extractors.html import html_segments

logger = logging.getLogger(__name__)

MAX_MESSAGES = 100_000
MAX_DEPTH = 2  # a forwarded message inside a message inside the upload; deeper ones are skipped
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_PARTS = 1000  # MIME parts per message; more is a bomb, not a mail
_FROM_LINE = re.compile(rb"^From ")
_QUOTED_FROM = re.compile(rb"^>(>*From )")


class EmailExtractor:
    kind = "eml"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        stats.engine, stats.unit_name = "email", "messages"
        yield from _messages([stream.read()], limits, stats, progress)


class MboxExtractor:
    kind = "mbox"

    def extract(
        self,
        stream: IO[bytes],
        *,
        limits: ExtractionLimits,
        stats: ExtractionStats,
        progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        stream = rewind(stream)
        stats.engine, stats.unit_name = "email", "messages"
        yield from _messages(split_mbox(stream), limits, stats, progress)


def split_mbox(stream: IO[bytes]) -> Iterator[bytes]:
    """Messages of an mbox file, split at ``From `` lines, with mboxrd ``>From`` quoting undone."""
    lines: list[bytes] = []
    previous_blank = True
    for line in stream:
        if _FROM_LINE.match(line) and previous_blank:
            if lines:
                yield b"".join(lines)
            lines = []
            previous_blank = False
            continue  # the separator line is not part of the message
        lines.append(_QUOTED_FROM.sub(rb"\1", line))
        previous_blank = not line.strip()
    if any(line.strip() for line in lines):
        yield b"".join(lines)


def _messages(
    raws: Any, limits: ExtractionLimits, stats: ExtractionStats, progress: ProgressCallback | None
) -> Iterator[Segment]:
    budget = CharBudget(limits, stats)
    # compat32 leaves headers as strings: the modern policy parses every structured header into
    # objects on each access, which made a mailbox twenty times slower (benchmarks/formats.py).
    parser = BytesParser(policy=policy.compat32)
    for number, raw in enumerate(raws, start=1):
        if number > MAX_MESSAGES:
            if not limits.truncate:
                raise ProcessingError(ErrorCode.TOO_LARGE, f"This mailbox has more than {MAX_MESSAGES} messages.")
            truncate_notice(stats, f"Only the first {MAX_MESSAGES} messages were imported.")
            break
        message = parser.parsebytes(raw)
        stats.units_done = number
        had_text = False
        for segment in _message(message, limits, stats, budget, {"message": number}, depth=0):
            had_text = True
            yield segment
            if budget.exhausted:
                return
        stats.units_with_text += had_text
        if progress:
            progress(stats)
    if not stats.units_with_text:
        raise ProcessingError(ErrorCode.EMPTY, "This e-mail contains no text.")


def _header(message: Message, name: str) -> str:
    """A header with RFC 2047 encoded words decoded (``=?iso-8859-1?q?Zo=EB?=``)."""
    raw = message.get(name)
    if raw is None:
        return ""
    try:
        value = str(make_header(decode_header(str(raw))))
    except (LookupError, UnicodeError, ValueError, email_errors.HeaderParseError):
        value = str(raw)
    return " ".join(value.split())


def _header_block(message: Message) -> tuple[str, str]:
    subject = _header(message, "Subject")
    lines = [f"{name}: {value}" for name in ("Subject", "From", "Date") if (value := _header(message, name))]
    return subject, "\n".join(lines)


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
    return disposition == "attachment" or (disposition != "inline" and part.get_filename() is not None)


def _body_and_attachments(message: Message) -> tuple[Message | None, list[Message]]:
    """The plain body if there is one, else the HTML one; and the attachments, in order.

    The same choice as ``EmailMessage.get_body(("plain", "html"))`` without its header parsing.
    """
    plain = html = None
    attachments: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if part is not message and (_is_attachment(part) or ctype == "message/rfc822"):
            attachments.append(part)
        elif part.is_multipart():
            stack[0:0] = [p for p in part.get_payload() if isinstance(p, Message)]
        elif ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html is None:
            html = part
    return plain or html, attachments


def _body_text(part: Any) -> str:
    """Decoded text of a text part; a wrong or unknown charset falls back to a lenient reading."""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("cp1252", "replace")


def _message(
    message: Any, limits: ExtractionLimits, stats: ExtractionStats, budget: CharBudget,
    where: dict[str, Any], depth: int,
) -> Iterator[Segment]:
    subject, header = _header_block(message)
    meta = {**where, "subject": subject, "heading_path": [subject] if subject else []}
    parts = sum(1 for _ in message.walk())
    body, attachments = _body_and_attachments(message)
    texts = [header]
    html = None
    if body is not None:
        if body.get_content_subtype() == "html":
            html = _body_text(body)
        else:
            texts.append(_body_text(body))
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if text:
        yield Segment(budget.take(text), meta, True)
    if html and not budget.exhausted:
        for segment in html_segments(html.encode("utf-8"), limits, ExtractionStats(), budget, extra=meta):
            yield Segment(segment.text, meta, False)
    if parts > MAX_PARTS:
        stats.notices.append(f"A message with {parts} parts had its attachments skipped.")
        return
    for index, part in enumerate(attachments, start=1):
        if budget.exhausted:
            return
        yield from _attachment(part, index, limits, stats, budget, meta, depth)


def _attachment(
    part: Any, index: int, limits: ExtractionLimits, stats: ExtractionStats, budget: CharBudget,
    meta: dict[str, Any], depth: int,
) -> Iterator[Segment]:
    name = _decoded_filename(part) or f"attachment {index}"
    where = {**meta, "attachment": name}
    if part.get_content_type() == "message/rfc822":
        if depth + 1 >= MAX_DEPTH:
            stats.notices.append(f"A forwarded message nested too deeply was skipped ({name}).")
            return
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return
        yield from _message(inner, limits, stats, budget, {**where}, depth + 1)
        return
    payload = part.get_payload(decode=True) or b""
    if len(payload) > MAX_ATTACHMENT_BYTES:
        stats.notices.append(f"Attachment {name} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB; skipped.")
        return
    try:
        kind = detect_kind(name, payload[:8192])
        if kind in ("eml", "mbox"):
            return
        sub_stats = ExtractionStats()
        for segment in get_extractor(kind, filename=name).extract(io.BytesIO(payload), limits=limits,
                                                                   stats=sub_stats):
            path = [*meta["heading_path"], name, *segment.metadata.get("heading_path", [])]
            seg_meta = {**segment.metadata, **where, "heading_path": path}
            yield Segment(budget.take(segment.text), seg_meta, segment.boundary)
            if budget.exhausted:
                return
    except ProcessingError as exc:
        if exc.code == ErrorCode.UNSUPPORTED_TYPE:
            return  # signatures, calendar invites, vCards: not content
        stats.notices.append(f"Attachment {name} could not be read: {exc.message}")


def _decoded_filename(part: Message) -> str:
    name = part.get_filename()
    if not name:
        return ""
    try:
        return str(make_header(decode_header(name)))
    except (LookupError, UnicodeError, ValueError, email_errors.HeaderParseError):
        return name
