"""Owners hear about finished sources once: one notice per source, one per batch."""

from __future__ import annotations

import time

import pytest

from notifications.models import Notification
from tests.fixtures import documents
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_for_notifications(user, count: int, timeout: float = 30) -> list[Notification]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(Notification.objects.filter(user=user))
        if len(found) >= count:
            time.sleep(1.0)  # give a duplicate the chance to show up
            return list(Notification.objects.filter(user=user))
        time.sleep(0.2)
    return list(Notification.objects.filter(user=user))


def test_one_document_ends_with_exactly_one_notification(api_client, user, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("guide.txt", b"Some useful text.")).data["sources"][0]["source_id"]
    wait_for_source(source_id)

    notes = _wait_for_notifications(user, 1)

    assert len(notes) == 1
    assert notes[0].notification_type == "success"
    assert "guide.txt" in notes[0].message and "1 chunks" in notes[0].message
    assert (notes[0].link_kind, notes[0].link_id) == ("source", str(source_id))


def test_failed_document_notifies_with_the_reason(api_client, user, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("scan.pdf", documents.build_scanned_pdf(1))).data["sources"][0][
        "source_id"
    ]
    wait_for_source(source_id)

    notes = _wait_for_notifications(user, 1)

    assert len(notes) == 1 and notes[0].notification_type == "error"
    assert "OCR" in notes[0].message


def test_batch_upload_is_coalesced_into_one_notification(api_client, user, chatbot, celery_worker):
    response = upload(
        api_client, chatbot.pk,
        ("a.txt", b"first document"), ("b.txt", b"second document"),
        ("report.pdf", documents.build_encrypted_pdf(["x"])),
    )
    for entry in response.data["sources"]:
        wait_for_source(entry["source_id"])

    notes = _wait_for_notifications(user, 1)

    assert len(notes) == 1
    assert notes[0].title == "2 documents ready, 1 failed"
    assert "report.pdf (encrypted)" in notes[0].message
    assert notes[0].notification_type == "warning"
