"""API defences: throttling, request size, status after results expire, text PostgreSQL refuses."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django_celery_results.models import TaskResult
from rest_framework.throttling import ScopedRateThrottle

from sources.chunking import ChunkDraft
from sources.models import Chunk, Source
from sources.services import chunk_store, dispatch
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]


def test_uploads_are_throttled_per_user_with_retry_after(api_client, other_client, chatbot, monkeypatch):
    cache.clear()
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"uploads": "2/min"})

    codes = [upload(api_client, chatbot.pk, (f"{i}.txt", f"text {i}".encode())).status_code for i in range(3)]
    throttled = upload(api_client, chatbot.pk, ("x.txt", b"x"))

    assert codes == [202, 202, 429]
    assert int(throttled["Retry-After"]) > 0
    assert Source.objects.count() == 2
    # Another user has their own budget (and gets a 404 for this chatbot, not a 429).
    assert upload(other_client, chatbot.pk, ("y.txt", b"y")).status_code == 404


def test_too_many_files_in_one_request_is_refused(api_client, chatbot, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [SimpleUploadedFile(f"{i}.txt", b"x") for i in range(4)]

    response = api_client.post(f"/api/chatbots/{chatbot.pk}/sources/upload/", {"file": files}, format="multipart")

    assert response.status_code == 400
    assert not Source.objects.exists()


def test_nul_and_lone_surrogates_are_removed_before_insert(chatbot):
    source = Source.objects.create(chatbot=chatbot, kind="file", name="n", status="processing")
    writer = chunk_store.ChunkWriter(source, generation=1)

    list(writer.add_all([ChunkDraft("before\x00after \ud800 end", {})]))

    stored = Chunk.objects.get(source=source)
    assert "\x00" not in stored.text and stored.text.startswith("beforeafter")
    stored.text.encode("utf-8")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_status_comes_from_the_source_after_its_result_expired(api_client, chatbot, celery_worker):
    source_id = upload(api_client, chatbot.pk, ("a.txt", b"Some text.")).data["sources"][0]["source_id"]
    source = wait_for_source(source_id)
    TaskResult.objects.filter(task_id=source.task_id).delete()

    response = api_client.get(f"/api/tasks/{source.task_id}/")

    assert response.status_code == 200
    assert response.data["status"] == "SUCCESS"
    assert response.data["result"]["chunk_count"] == 1


def test_pending_source_whose_task_is_unknown_reads_pending_with_progress(api_client, chatbot):
    source = Source(chatbot=chatbot, kind="file", name="a.txt", file_kind="txt")
    dispatch.prepare_run(source)
    source.save()

    response = api_client.get(f"/api/tasks/{source.task_id}/")

    assert response.data["status"] == "PENDING" and response.data["progress"]["percent"] == 0
    assert api_client.get(f"/api/tasks/{uuid.uuid4()}/").status_code == 404
