"""Every newer format through the upload API to a real worker: the document's words and citable metadata."""

from __future__ import annotations

import pytest

from sources.models import Chunk, Source
from tests.fixtures import office
from tests.fixtures.biff import build_xls
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _ingest(api_client, chatbot, name: str, data: bytes, **extra) -> Source:
    response = upload(api_client, chatbot.pk, (name, data), **extra)
    assert response.status_code == 202, response.data
    return wait_for_source(response.data["sources"][0]["source_id"])


def _chunks(source: Source) -> list[Chunk]:
    return list(Chunk.objects.filter(source=source, is_active=True).order_by("ordinal"))


def test_pptx_slides_with_titles_tables_and_notes(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "deck.pptx", office.build_pptx())

    assert source.status == "completed", source.error_message
    assert (source.file_kind, source.unit_name, source.units_done) == ("pptx", "slides", 2)
    chunks = _chunks(source)
    assert [c.metadata["slide"] for c in chunks] == [1, 2]
    assert chunks[0].metadata["heading_path"] == ["Quarterly results"]
    assert "Revenue grew twelve percent" in chunks[0].text and office.SLIDE_NOTES in chunks[0].text
    assert "Name: Alice; Role: Engineer" in chunks[1].text


def test_odp_slides(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "deck.odp", office.build_odp())

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    assert [(c.metadata["slide"], c.metadata["heading_path"]) for c in chunks] == [(1, ["Roadmap"]), (2, ["Budget"])]
    assert "Travel costs are capped" in chunks[1].text


def test_odt_headings_and_table(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "handbook.odt", office.build_odt())

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    holiday = next(c for c in chunks if "25 days" in c.text)
    assert holiday.metadata["heading_path"] == ["Employee handbook", "Holidays"]
    assert any("Name: Alice; Age: 30; Role: Engineer" in c.text for c in chunks)


@pytest.mark.parametrize(
    ("name", "data"),
    [("staff.ods", office.build_ods()),
     ("staff.xls", build_xls({"Staff": [["Name", "City"], ["Ann", "Oslo"]],
                              "Budget": [["Item", "Cost"], ["Laptop", 1200]]}))],
    ids=["ods", "xls"],
)
def test_ods_and_xls_sheets_as_records(api_client, chatbot, celery_worker, name, data):
    source = _ingest(api_client, chatbot, name, data)

    assert source.status == "completed", source.error_message
    assert (source.sheet_count, source.unit_name, source.engine) == (2, "rows", "calamine")
    chunks = _chunks(source)
    assert chunks[0].metadata["sheet"] == "Staff" and "Name: Ann; City: Oslo" in chunks[0].text
    assert any("Item: Laptop; Cost: 1200" in c.text and c.metadata["sheet"] == "Budget" for c in chunks)


def test_html_file_main_content(api_client, chatbot, celery_worker):
    page = (b"<html><head><title>Hours</title></head><body><nav>Menu link</nav><main><h1>Opening hours</h1>"
            b"<p>We open at nine on weekdays.</p></main></body></html>")

    source = _ingest(api_client, chatbot, "hours.html", page)

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    assert chunks[0].text == "Opening hours\nWe open at nine on weekdays."
    assert chunks[0].metadata["heading_path"] == ["Opening hours"]
    assert (source.file_kind, source.content_type) == ("html", "text/html")


def test_epub_chapters(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "sea.epub", office.build_epub())

    assert source.status == "completed", source.error_message
    assert (source.unit_name, source.units_done) == ("chapters", 2)
    chunks = _chunks(source)
    storm = next(c for c in chunks if "main mast" in c.text)
    assert storm.metadata["heading_path"] == ["The Voyage", "Storm"] and storm.metadata["chapter"] == 1
    assert any("penguins" in c.text and c.metadata["chapter"] == 2 for c in chunks)


def test_eml_with_attachment(api_client, chatbot, celery_worker):
    from tests.fixtures import mail
    from tests.fixtures.documents import build_docx

    source = _ingest(api_client, chatbot, "plans.eml", mail.build_email(attach=("handbook.docx", build_docx())))

    assert source.status == "completed", source.error_message
    chunks = _chunks(source)
    assert chunks[0].text.startswith("Subject: Holiday plans") and "Grüße!" in chunks[0].text
    assert chunks[0].metadata["message"] == 1
    assert any(c.metadata.get("attachment") == "handbook.docx" and "25 days" in c.text for c in chunks)


def test_mbox_messages(api_client, chatbot, celery_worker):
    from tests.fixtures import mail

    data = mail.build_mbox([mail.build_email("First"), mail.build_email("Second")])
    source = _ingest(api_client, chatbot, "archive.mbox", data)

    assert source.status == "completed", source.error_message
    assert (source.unit_name, source.units_done) == ("messages", 2)
    chunks = _chunks(source)
    assert [c.metadata["subject"] for c in chunks] == ["First", "Second"]


def test_tiny_latin1_csv_keeps_its_copyright_sign(api_client, chatbot, celery_worker):
    source = _ingest(api_client, chatbot, "logos.csv", b"name,owner\nLogo,\xa9 ACME 2024\n")

    assert source.status == "completed", source.error_message
    assert _chunks(source)[0].text == "name: Logo; owner: © ACME 2024"
