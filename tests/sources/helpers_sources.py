"""Helpers for source tests: upload through the API and wait for a real worker to finish."""

from __future__ import annotations

import time

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from sources.models import Source


def upload(client: APIClient, chatbot_id: int, *files: tuple[str, bytes], **extra: object):
    payload: dict[str, object] = {"file": [SimpleUploadedFile(name, data) for name, data in files]}
    payload.update(extra)
    return client.post(f"/api/chatbots/{chatbot_id}/sources/upload/", payload, format="multipart")


def wait_for_source(
    source_id: int, timeout: float = 60.0, statuses: tuple[str, ...] = Source.FINISHED_STATUSES
) -> Source:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source = Source.objects.get(pk=source_id)
        if source.status in statuses:
            return source
        time.sleep(0.2)
    source = Source.objects.get(pk=source_id)
    raise AssertionError(f"source {source_id} still {source.status} ({source.stage}) after {timeout}s")
