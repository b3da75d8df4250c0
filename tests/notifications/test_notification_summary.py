"""summarize_batch: one plural summary for a finished batch of documents."""

from __future__ import annotations

from notifications.models import MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH
from notifications.services import summarize_batch


def test_all_ready_is_success_and_names_the_documents():
    title, message, kind = summarize_batch(["a.pdf", "b.docx"], [])

    assert (title, kind) == ("2 documents ready", "success")
    assert message == "2 documents ready: a.pdf, b.docx"


def test_mixed_is_warning_and_names_the_failures_with_reasons():
    title, message, kind = summarize_batch([f"doc{i}.pdf" for i in range(12)], [("report.pdf", "encrypted")])

    assert title == "12 documents ready, 1 failed"
    assert message == "12 documents ready, 1 failed: report.pdf (encrypted)"
    assert kind == "warning"


def test_all_failed_is_error():
    title, message, kind = summarize_batch([], [("a.pdf", "corrupt"), ("b.pdf", "no text")])

    assert (title, kind) == ("2 documents failed", "error")
    assert message == "2 documents failed: a.pdf (corrupt), b.pdf (no text)"


def test_singular_forms():
    assert summarize_batch(["a.pdf"], [])[0] == "1 document ready"
    assert summarize_batch(["a.pdf"], [("b.pdf", "empty")])[0] == "1 document ready, 1 failed"
    assert summarize_batch([], [("b.pdf", "empty")])[0] == "1 document failed"


def test_failure_list_is_cut_after_five_with_and_n_more():
    failures = [(f"f{i}.pdf", "corrupt") for i in range(8)]

    _, message, _ = summarize_batch(["ok.pdf"], failures)

    assert message.endswith("f4.pdf (corrupt) and 3 more")
    assert "f5.pdf" not in message


def test_failure_without_reason_shows_only_the_name():
    assert summarize_batch([], [("a.pdf", "")])[1] == "1 document failed: a.pdf"


def test_empty_batch_is_info():
    title, _, kind = summarize_batch([], [])
    assert kind == "info" and title


def test_huge_names_stay_within_the_notification_limits():
    failures = [("x" * 5000 + ".pdf", "y" * 5000) for _ in range(50)]

    title, message, _ = summarize_batch(["z" * 5000] * 1000, failures)

    assert len(title) <= TITLE_MAX_LENGTH
    assert len(message) <= MESSAGE_MAX_LENGTH
