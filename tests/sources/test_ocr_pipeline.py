"""Scans and images through the upload API to a real worker: OCR text, page/ocr/confidence metadata, codes."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings

from botsmith.errors import ProcessingError
from sources.models import Chunk, Source
from sources.services.ingestion import ingest_document
from tests.fixtures import scans
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAGE_ONE = ["Quarterly revenue grew strongly", "Invoice 4711 was paid in March"]
PAGE_TWO = ["Second scanned page mentions penguins"]


def _ingest(api_client, chatbot, name: str, data: bytes, **extra) -> Source:
    response = upload(api_client, chatbot.pk, (name, data), **extra)
    assert response.status_code == 202, response.data
    return wait_for_source(response.data["sources"][0]["source_id"])


def _chunks(source: Source) -> list[Chunk]:
    return list(Chunk.objects.filter(source=source, is_active=True).order_by("ordinal"))


def test_scanned_pdf_completes_with_its_printed_words(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "scan.pdf", scans.build_scanned_text_pdf([PAGE_ONE, PAGE_TWO]),
                     chunk_size=100, chunk_overlap=0)

    assert source.status == "completed", source.error_message
    assert (source.units_done, source.units_with_text, source.engine) == (2, 2, "pdfium+tesseract")
    assert source.ocr == "auto"
    chunks = _chunks(source)
    text = " ".join(c.text for c in chunks)
    assert "Quarterly revenue grew strongly" in text and "penguins" in text
    last = chunks[-1].metadata
    assert last["ocr"] is True and last["page"] == 2 and last["confidence"] > 60


def test_mixed_pdf_keeps_digital_page_and_reads_the_scan(api_client, chatbot, celery_worker):
    data = scans.build_scanned_text_pdf([[], PAGE_TWO], text_pages={0: "Digital minutes of the annual meeting. " * 4})

    source = _ingest(api_client, chatbot, "mixed.pdf", data, chunk_size=100, chunk_overlap=0)

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    assert "annual meeting" in chunks[0].text and "ocr" not in chunks[0].metadata
    scanned = next(c for c in chunks if "penguins" in c.text)
    assert scanned.metadata["ocr"] is True and scanned.metadata.get("page_end", scanned.metadata.get("page")) == 2


def test_ocr_never_fails_a_scan_as_no_text(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "scan.pdf", scans.build_scanned_text_pdf([PAGE_ONE]), ocr="never")

    assert (source.status, source.error_code, source.ocr) == ("failed", "no_text", "never")


def test_unknown_ocr_option_is_refused(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("scan.pdf", scans.build_scanned_text_pdf([PAGE_ONE])), ocr="maybe")
    assert response.status_code == 400
    assert not Source.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("photo.png", scans.build_image(PAGE_ONE, "PNG"), "image/png"),
        ("photo.jpg", scans.build_rotated_jpeg(PAGE_ONE), "image/jpeg"),
        ("photo.webp", scans.build_image(PAGE_ONE, "WEBP", lossless=True), "image/webp"),
        ("photo.bmp", scans.build_image(PAGE_ONE, "BMP"), "image/bmp"),
        ("photo.gif", scans.build_image(PAGE_ONE, "GIF"), "image/gif"),
        ("fax.tiff", scans.build_multipage_tiff([PAGE_ONE, PAGE_TWO]), "image/tiff"),
    ],
    ids=["png", "jpeg-exif-rotated", "webp", "bmp", "gif", "tiff-2-pages"],
)
def test_each_image_type_completes_with_its_words(api_client, chatbot, celery_worker, name, data, content_type):
    source = _ingest(api_client, chatbot, name, data, chunk_size=100, chunk_overlap=0)

    assert source.status == "completed", source.error_message
    assert (source.file_kind, source.content_type, source.engine) == ("image", content_type, "tesseract")
    chunks = _chunks(source)
    text = " ".join(c.text for c in chunks)
    assert "Quarterly revenue grew strongly" in text
    assert chunks[0].metadata["ocr"] is True and chunks[0].metadata["page"] == 1
    if name.endswith(".tiff"):
        assert "penguins" in text and chunks[-1].metadata["page"] == 2 and source.units_done == 2


def test_pixel_bomb_image_fails_too_large(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "bomb.png", scans.build_pixel_bomb_png())

    assert (source.status, source.error_code) == ("failed", "too_large")
    assert source.chunk_count == 0


def test_image_named_png_that_is_not_an_image_is_refused(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("photo.png", b"%PDF-1.4 not an image"))
    assert response.status_code == 415
    assert response.data["sources"][0]["error_code"] == "unsupported_type"


@override_settings(OCR_COMMAND="/nonexistent/tesseract")
def test_scan_without_tesseract_fails_ocr_unavailable_saying_what_to_install(chatbot):
    source = Source(chatbot=chatbot, kind="file", name="scan.pdf", original_filename="scan.pdf", file_kind="pdf")
    source.file.save("scan.pdf", ContentFile(scans.build_scanned_text_pdf([PAGE_ONE])), save=True)

    with pytest.raises(ProcessingError):
        ingest_document(source.pk)

    source.refresh_from_db()
    assert (source.status, source.error_code) == ("failed", "ocr_unavailable")
    assert "apt-get install tesseract-ocr" in source.error_message


def test_many_page_scan_reports_progress_per_page_and_cancels_with_its_engines(api_client, chatbot, celery_worker):
    import time

    data = scans.build_scanned_text_pdf([PAGE_ONE, PAGE_TWO] * 15)
    source_id = upload(api_client, chatbot.pk, ("long-scan.pdf", data)).data["sources"][0]["source_id"]
    deadline = time.monotonic() + 60
    while (source := Source.objects.get(pk=source_id)).units_done == 0:
        assert source.status in ("pending", "processing") and time.monotonic() < deadline, source.status
        time.sleep(0.05)
    detail = api_client.get(f"/api/sources/{source_id}/").data

    assert (detail["unit_name"], detail["units_total"]) == ("pages", 30) and detail["units_done"] < 30
    assert api_client.post(f"/api/sources/{source_id}/cancel/").status_code == 202
    source = wait_for_source(source_id, timeout=60)

    assert source.status == "cancelled"
    assert not Chunk.objects.filter(source_id=source_id).exists()
    deadline = time.monotonic() + 10  # engine processes die with the extraction child (PR_SET_PDEATHSIG)
    while _engines(celery_worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _engines(celery_worker)


def _engines(worker) -> list[int]:
    """Tesseract processes under the worker (a zombie not yet reaped by its dead parent does not count)."""
    import psutil

    found = []
    for proc in worker.children():
        try:
            if proc.name() == "tesseract" and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.NoSuchProcess:
            continue
    return found
