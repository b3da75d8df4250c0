"""E-mail and mailboxes: header block, plain body preferred, charsets decoded, attachments cited."""

from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import mail as mail_extractor
from tests.fixtures import mail
from tests.fixtures.documents import build_docx


def test_header_block_and_plain_body_with_charset_decoded(run_extractor):
    segments, stats = run_extractor("eml", mail.build_email())

    first = segments[0]
    assert first.text.startswith("Subject: Holiday plans\nFrom: Zoë Müller <zoe@example.com>\nDate: Tue, 03 Dec")
    assert "Grüße! The office is closed on Friday." in first.text
    assert "HTML_ONLY_VERSION" not in "\n".join(s.text for s in segments)
    assert first.metadata == {"message": 1, "subject": "Holiday plans", "heading_path": ["Holiday plans"]}
    assert (stats.units_done, stats.unit_name) == (1, "messages")


def test_html_only_body_is_read_as_main_content(run_extractor):
    segments, _ = run_extractor("eml", mail.build_html_only_email())
    assert any("The new library opens in May." in s.text for s in segments)


def test_attachments_in_supported_formats_say_where_they_came_from(run_extractor):
    segments, _ = run_extractor("eml", mail.build_email(attach=("handbook.docx", build_docx())))

    attached = [s for s in segments if s.metadata.get("attachment") == "handbook.docx"]
    assert attached and any("25 days of paid holiday" in s.text for s in attached)
    assert attached[0].metadata["message"] == 1
    assert attached[0].metadata["heading_path"][:2] == ["Holiday plans", "handbook.docx"]


def test_unsupported_attachments_are_ignored(run_extractor):
    segments, stats = run_extractor("eml", mail.build_email(attach=("invite.ics", b"BEGIN:VCALENDAR\n")))
    assert all("attachment" not in s.metadata for s in segments)
    assert not stats.notices


def test_forwarded_message_is_read_with_a_depth_cap(run_extractor, monkeypatch):
    inner = mail.build_email("Inner note")
    segments, _ = run_extractor("eml", mail.build_email("Outer", forwarded=inner))
    assert any(s.metadata.get("subject") == "Inner note" for s in segments)

    monkeypatch.setattr(mail_extractor, "MAX_DEPTH", 1)
    segments, stats = run_extractor("eml", mail.build_email("Outer", forwarded=inner))
    assert all(s.metadata.get("subject") != "Inner note" for s in segments)
    assert any("nested too deeply" in n for n in stats.notices)


def test_mbox_is_one_source_of_many_messages(run_extractor):
    data = mail.build_mbox([mail.build_email("First"), mail.build_email("Second"), mail.build_html_only_email()])

    segments, stats = run_extractor("mbox", data)

    assert [s.metadata["message"] for s in segments if s.boundary] == [1, 2, 3]
    assert [s.metadata["subject"] for s in segments if s.boundary] == ["First", "Second", "Newsletter"]
    assert (stats.units_done, stats.units_with_text) == (3, 3)


def test_mbox_message_cap(run_extractor, monkeypatch):
    monkeypatch.setattr(mail_extractor, "MAX_MESSAGES", 2)
    with pytest.raises(ProcessingError) as err:
        run_extractor("mbox", mail.build_mbox([mail.build_email()] * 3))
    assert err.value.code == ErrorCode.TOO_LARGE


def test_too_many_mime_parts_skip_attachments(run_extractor, monkeypatch):
    monkeypatch.setattr(mail_extractor, "MAX_PARTS", 3)
    segments, stats = run_extractor("eml", mail.build_email(attach=("handbook.docx", build_docx())))
    assert all("attachment" not in s.metadata for s in segments)
    assert any("parts" in n for n in stats.notices)
