"""Sources API without a worker: validation, ownership, duplicates, cancel, delete."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from sources.models import Chunk, Source
from tests.factories import ChatbotFactory
from tests.fixtures import documents
from tests.sources.helpers_sources import upload

pytestmark = pytest.mark.django_db


def _source(chatbot, **fields) -> Source:
    source = Source(chatbot=chatbot, kind="file", name="a.txt", original_filename="a.txt", file_kind="txt",
                    task_id=str(uuid.uuid4()), **fields)
    source.file.save("a.txt", ContentFile(b"hello"), save=False)
    source.save()
    return source


def test_upload_creates_pending_source_with_server_chosen_name(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("../../etc/x.txt", b"plain text"))

    assert response.status_code == 202
    entry = response.data["sources"][0]
    source = Source.objects.get(pk=entry["source_id"])
    assert entry == {"source_id": source.pk, "task_id": source.task_id, "status": "pending", "name": "x.txt",
                     "duplicate": False}
    assert source.file.name.startswith(f"sources/{chatbot.pk}/") and ".." not in source.file.name
    assert source.sha256 and source.size_bytes == len(b"plain text")
    assert (source.chunk_size, source.chunk_overlap) == (1000, 150)


@override_settings(MAX_UPLOAD_SIZE=100)
def test_oversized_file_is_413_and_nothing_is_stored(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("big.txt", b"x" * 101))

    assert response.status_code == 413
    assert response.data["sources"][0]["error_code"] == "too_large"
    assert not Source.objects.exists()


def test_html_named_pdf_is_415(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("report.pdf", documents.build_html_named_pdf()))

    assert response.status_code == 415
    assert response.data["sources"][0]["error_code"] == "unsupported_type"
    assert "not a PDF" in response.data["sources"][0]["detail"]


def test_one_refused_file_does_not_stop_the_others(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("ok.txt", b"fine"), ("bad.exe", b"MZ\x90\x00"),
                      ("ok2.csv", b"a,b\n1,2\n"))

    assert response.status_code == 202
    statuses = [(e["name"], e["status"]) for e in response.data["sources"]]
    assert statuses == [("ok.txt", "pending"), ("bad.exe", "refused"), ("ok2.csv", "pending")]
    assert response.data["sources"][1]["error_code"] == "unsupported_type"
    sources = Source.objects.order_by("pk")
    assert sources.count() == 2
    assert sources[0].batch_id is not None and sources[0].batch_id == sources[1].batch_id


def test_same_file_twice_returns_existing_unless_forced(api_client, chatbot):
    first = upload(api_client, chatbot.pk, ("a.txt", b"same bytes")).data["sources"][0]
    again = upload(api_client, chatbot.pk, ("renamed.txt", b"same bytes")).data["sources"][0]
    forced = upload(api_client, chatbot.pk, ("a.txt", b"same bytes"), force="true").data["sources"][0]

    assert again["source_id"] == first["source_id"] and again["duplicate"] is True
    assert forced["source_id"] != first["source_id"]
    assert Source.objects.count() == 2


def test_bad_chunk_settings_are_400(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("a.txt", b"x"), chunk_size=500, chunk_overlap=500)
    assert response.status_code == 400
    assert not Source.objects.exists()


def test_empty_upload_request_is_400(api_client, chatbot):
    response = api_client.post(f"/api/chatbots/{chatbot.pk}/sources/upload/", {}, format="multipart")
    assert response.status_code == 400


def test_list_filters_by_status_and_kind(api_client, chatbot):
    _source(chatbot, status="completed")
    _source(chatbot, status="failed")

    response = api_client.get(f"/api/chatbots/{chatbot.pk}/sources/", {"status": "failed"})

    assert response.status_code == 200
    assert [s["status"] for s in response.data["results"]] == ["failed"]
    assert api_client.get(f"/api/chatbots/{chatbot.pk}/sources/", {"kind": "website"}).data["count"] == 0


def test_chunks_are_listed_in_order_without_staged_rows(api_client, chatbot):
    source = _source(chatbot, status="completed")
    for ordinal in (1, 0):
        Chunk.objects.create(source=source, chatbot=chatbot, ordinal=ordinal, text=f"t{ordinal}", char_count=2,
                             token_count=1, content_hash=str(ordinal), is_active=True)
    Chunk.objects.create(source=source, chatbot=chatbot, generation=1, ordinal=0, text="staged", char_count=6,
                         token_count=2, content_hash="s", is_active=False)

    response = api_client.get(f"/api/sources/{source.pk}/chunks/")

    assert [c["text"] for c in response.data["results"]] == ["t0", "t1"]


def test_every_source_endpoint_is_404_for_another_user(other_client, chatbot):
    source = _source(chatbot, status="completed")
    urls = [
        ("get", f"/api/sources/{source.pk}/"),
        ("get", f"/api/sources/{source.pk}/chunks/"),
        ("post", f"/api/sources/{source.pk}/reprocess/"),
        ("post", f"/api/sources/{source.pk}/cancel/"),
        ("delete", f"/api/sources/{source.pk}/"),
        ("get", f"/api/chatbots/{chatbot.pk}/sources/"),
        ("get", f"/api/tasks/{source.task_id}/"),
    ]
    for method, url in urls:
        assert getattr(other_client, method)(url).status_code == 404, url
    assert upload(other_client, chatbot.pk, ("a.txt", b"x")).status_code == 404
    assert Source.objects.filter(pk=source.pk).exists()


def test_task_ids_unknown_random_and_garbage_all_404(api_client):
    for task_id in (str(uuid.uuid4()), "garbage", "x" * 300):
        assert api_client.get(f"/api/tasks/{task_id}/").status_code == 404


def test_anonymous_gets_401(anon_client, chatbot):
    assert anon_client.get(f"/api/chatbots/{chatbot.pk}/sources/").status_code == 401
    assert upload(anon_client, chatbot.pk, ("a.txt", b"x")).status_code == 401


def test_cancel_pending_source_ends_cancelled(api_client, chatbot):
    source = _source(chatbot, status="pending")

    response = api_client.post(f"/api/sources/{source.pk}/cancel/")

    assert response.status_code == 202
    source.refresh_from_db()
    assert source.status == "cancelled" and source.finished_at is not None


def test_cancel_processing_source_sets_the_flag(api_client, chatbot):
    source = _source(chatbot, status="processing")

    api_client.post(f"/api/sources/{source.pk}/cancel/")

    source.refresh_from_db()
    assert source.status == "processing" and source.cancel_requested is True


def test_cancel_finished_source_is_400(api_client, chatbot):
    source = _source(chatbot, status="completed")
    response = api_client.post(f"/api/sources/{source.pk}/cancel/")
    assert response.status_code == 400
    assert response.data["error_code"] == "invalid_argument"


def test_delete_removes_chunks_and_stored_file(api_client, chatbot, django_capture_on_commit_callbacks):
    source = _source(chatbot, status="completed")
    Chunk.objects.create(source=source, chatbot=chatbot, ordinal=0, text="t", char_count=1, token_count=1,
                         content_hash="h", is_active=True)
    name = source.file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(f"/api/sources/{source.pk}/")

    assert response.status_code == 204
    assert not Source.objects.filter(pk=source.pk).exists()
    assert not Chunk.objects.filter(source_id=source.pk).exists()
    assert not default_storage.exists(name)


def test_source_detail_fields(api_client, chatbot):
    source = _source(chatbot, status="completed", chunk_count=3, char_count=120)

    data = api_client.get(f"/api/sources/{source.pk}/").data

    for field in ("id", "chatbot", "kind", "name", "status", "progress", "stage", "error_code", "error_message",
                  "chunk_count", "char_count", "task_id", "created_at", "started_at", "finished_at"):
        assert field in data
    assert (data["chatbot"], data["chunk_count"], data["char_count"]) == (chatbot.pk, 3, 120)


@override_settings(MAX_SOURCES_PER_CHATBOT=1)
def test_source_count_quota_is_403(api_client, chatbot):
    _source(chatbot, status="completed")
    response = upload(api_client, chatbot.pk, ("b.txt", b"new"))
    assert response.status_code == 403
    assert response.data["sources"][0]["error_code"] == "limit_exceeded"


def test_chatbot_defaults_apply_when_upload_gives_none(api_client, user):
    bot = ChatbotFactory(owner=user, chunk_size=400, chunk_overlap=40)
    entry = upload(api_client, bot.pk, ("a.txt", b"x")).data["sources"][0]
    source = Source.objects.get(pk=entry["source_id"])
    assert (source.chunk_size, source.chunk_overlap) == (400, 40)
