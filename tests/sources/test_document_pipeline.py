"""Real files through the API to a real worker on Redis: statuses, text, metadata, error codes."""

from __future__ import annotations

import pytest

from sources.models import Chunk, Source
from tests.fixtures import documents
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _ingest(api_client, chatbot, name: str, data: bytes, **extra) -> Source:
    response = upload(api_client, chatbot.pk, (name, data), **extra)
    assert response.status_code == 202, response.data
    entry = response.data["sources"][0]
    assert entry["status"] == "pending" and entry["task_id"]
    return wait_for_source(entry["source_id"])


def _chunks(source: Source) -> list[Chunk]:
    return list(Chunk.objects.filter(source=source, is_active=True).order_by("ordinal"))


def test_pdf_pages_become_chunks_with_page_numbers(api_client, chatbot, celery_worker):
    pages = [f"Page {n} talks about topic number {n}. " * 5 for n in range(1, 6)]

    source = _ingest(api_client, chatbot, "manual.pdf", documents.build_pdf(pages))

    assert source.status == "completed", source.error_message
    assert (source.units_done, source.unit_name, source.units_with_text) == (5, "pages", 5)
    chunks = _chunks(source)
    assert source.chunk_count == len(chunks) >= 1
    text = " ".join(c.text for c in chunks)
    assert all(f"topic number {n}" in text for n in range(1, 6))
    assert chunks[0].metadata.get("page_start", chunks[0].metadata.get("page")) == 1
    assert all(c.chatbot_id == chatbot.pk and c.char_count == len(c.text) and c.token_count > 0 for c in chunks)


def test_encrypted_pdf_with_password_fails_encrypted(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "locked.pdf", documents.build_encrypted_pdf(["secret text"]))

    assert (source.status, source.error_code) == ("failed", "encrypted")
    assert "password" in source.error_message.lower()
    assert not Chunk.objects.filter(source=source).exists()


def test_pdf_encrypted_with_empty_password_is_read(api_client, chatbot, celery_worker):
    data = documents.build_pdf_empty_password_encrypted(["Readable although encrypted."])

    source = _ingest(api_client, chatbot, "open.pdf", data)

    assert source.status == "completed", source.error_message
    assert "Readable although encrypted" in _chunks(source)[0].text


def test_scanned_pdf_fails_no_text(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "scan.pdf", documents.build_scanned_pdf(2))

    assert (source.status, source.error_code) == ("failed", "no_text")
    assert "OCR" in source.error_message
    assert source.chunk_count == 0


def test_docx_headings_and_table(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "handbook.docx", documents.build_docx())

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    text = "\n".join(c.text for c in chunks)
    assert "25 days of paid holiday" in text
    assert "Name: Alice; Age: 30; Role: Engineer" in text
    assert "DELETED_SECRET" not in text
    holiday = next(c for c in chunks if "25 days" in c.text)
    assert holiday.metadata["heading_path"][-1] == "Holidays"
    assert text.index("Welcome") < text.index("25 days") < text.index("Alice")


def test_xlsx_two_sheets_formula_and_dates(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "people.xlsx", documents.build_xlsx())

    assert source.status == "completed", source.error_message
    assert source.sheet_count == 2
    chunks = _chunks(source)
    text = "\n".join(c.text for c in chunks)
    assert "Name: Alice" in text and "Born: 1994-03-15" in text and "Double: 60" in text
    assert "Total Age" in text and "102.5" in text
    sheets = {c.metadata.get("sheet") for c in chunks}
    assert sheets == {"People", "Summary"}
    people = next(c for c in chunks if c.metadata.get("sheet") == "People")
    assert people.metadata["row_start"] >= 2


def test_csv_latin1_semicolon_multiline(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "villes.csv", documents.build_csv_latin1_semicolon_multiline())

    assert source.status == "completed", source.error_message
    text = "\n".join(c.text for c in _chunks(source))
    assert "Ville: Besançon" in text
    assert "Première ligne" in text and "seconde ligne; avec point-virgule" in text
    assert "Nom: Anaïs" in text


def test_utf16_txt(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "notes.txt", documents.build_utf16_bom_txt())

    assert source.status == "completed", source.error_message
    assert "Grüße aus Köln" in _chunks(source)[0].text


def test_chunk_size_from_upload_is_respected(api_client, chatbot, celery_worker):
    text = " ".join(f"Sentence {i} has moderate length for the chunker to split." for i in range(200)).encode()

    source = _ingest(api_client, chatbot, "long.txt", text, chunk_size=300, chunk_overlap=50)

    chunks = _chunks(source)
    assert (source.chunk_size, source.chunk_overlap) == (300, 50)
    assert len(chunks) > 10
    assert max(c.char_count for c in chunks) <= 300
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_identical_chunks_within_a_source_are_stored_once(api_client, chatbot, celery_worker):
    paragraph = "This exact paragraph repeats on every page of the file, word for word."
    source = _ingest(api_client, chatbot, "dup.txt", "\n\n".join([paragraph] * 3 + ["x" * 1100]).encode(),
                     chunk_size=1000, chunk_overlap=0)

    texts = [c.text for c in _chunks(source)]
    assert len(texts) == len(set(texts))
    assert source.chunk_count == len(texts)


def test_reprocess_replaces_chunks_with_exactly_one_set(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "doc.pdf", documents.build_pdf(["alpha " * 300, "beta " * 300]))
    first = [c.text for c in _chunks(source)]

    response = api_client.post(f"/api/sources/{source.pk}/reprocess/")
    assert response.status_code == 202
    source = wait_for_source(source.pk)

    assert source.status == "completed"
    assert [c.text for c in _chunks(source)] == first
    assert Chunk.objects.filter(source=source).count() == len(first)  # no staged leftovers


def test_task_status_api_reports_success(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "doc.txt", b"Some text for the status API.")

    response = api_client.get(f"/api/tasks/{source.task_id}/")

    assert response.status_code == 200
    assert response.data["status"] == "SUCCESS"
    assert response.data["result"]["chunk_count"] == 1


def test_task_status_api_reports_failure_with_error(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "scan.pdf", documents.build_scanned_pdf(1))

    response = api_client.get(f"/api/tasks/{source.task_id}/")

    assert response.data["status"] == "FAILURE"
    assert response.data["error"]["code"] == "no_text"


def test_original_call_signature_from_shell(chatbot, celery_worker):
    from django.core.files.base import ContentFile

    from sources.tasks import process_document

    source = Source(chatbot=chatbot, kind="file", name="a.txt", original_filename="a.txt", file_kind="txt")
    source.file.save("a.txt", ContentFile(b"Hello from the shell."), save=True)

    result = process_document.delay(source_id=source.pk, file_path="/etc/passwd", chatbot_id=chatbot.pk)

    assert result.get(timeout=30)["status"] == "completed"
    source.refresh_from_db()
    assert _chunks(source)[0].text == "Hello from the shell."
