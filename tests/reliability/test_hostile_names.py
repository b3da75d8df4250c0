"""Hostile file names and disguised types: stored names are the server's, display names are clean."""

from __future__ import annotations

import io
import os
import re
import unicodedata
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from sources.models import Chunk, Source
from sources.services import dispatch
from tests.fixtures import documents
from tests.sources.helpers_sources import upload, wait_for_source

pytestmark = pytest.mark.reliability

BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]}
PDF = documents.build_pdf(["Hostile names still carry real text."])


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Record what would be queued instead of queuing it: these tests need no worker, and no
    task must be left in the run's queues for a later test's worker to pick up."""
    published: list[int] = []
    monkeypatch.setattr(dispatch, "publish", lambda source: published.append(source.pk))
    return published


def _media_root() -> Path:
    return Path(settings.MEDIA_ROOT).resolve()


def _snapshot_outside_media() -> set[str]:
    """Every name next to and one level above MEDIA_ROOT: where ``../`` tricks would land."""
    media = _media_root()
    names: set[str] = set()
    for directory in (media.parent, media.parent.parent):
        names.update(str(p) for p in directory.iterdir() if p.resolve() != media)
    return names


def _stored_files(chatbot) -> set[str]:
    """Files in the chatbot's storage folder (ids repeat across rolled-back tests, so compare sets)."""
    folder = _media_root() / "sources" / str(chatbot.pk)
    return set(os.listdir(folder)) if folder.exists() else set()


def _assert_stored_safely(source: Source) -> None:
    pattern = rf"sources/{source.chatbot_id}/[0-9a-f]{{32}}\.{source.file_kind}"
    assert re.fullmatch(pattern, source.file.name), source.file.name
    stored = Path(source.file.path).resolve()
    assert stored.is_file() and stored.is_relative_to(_media_root())


def _assert_clean_display_name(name: str) -> None:
    assert 0 < len(name) <= 255
    assert "/" not in name and "\\" not in name and ".." not in name.split(".", 1)[0]
    assert not any(ch in BIDI or unicodedata.category(ch) in {"Cc", "Cf", "Cs"} for ch in name), repr(name)


HOSTILE_NAMES = [
    ("traversal", "../../x.pdf", "x.pdf"),
    ("absolute", "/etc/cron.d/x.pdf", "x.pdf"),
    ("windows-traversal", "..\\..\\x.pdf", "x.pdf"),
    ("nul", "report\x00.exe.pdf", "report.exe.pdf"),
    ("rtl-override", "invoice\u202efdp.exe.pdf", "invoicefdp.exe.pdf"),
    ("control-chars", "a\tb\nc\x1b.pdf", "abc.pdf"),
    ("long", "n" * 400 + ".pdf", None),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "raw", "expected"), HOSTILE_NAMES, ids=[h[0] for h in HOSTILE_NAMES])
def test_hostile_names_get_server_chosen_storage_and_clean_display_names(api_client, chatbot, sent, label, raw,
                                                                          expected):
    before = _snapshot_outside_media()

    response = upload(api_client, chatbot.pk, (raw, PDF))

    assert response.status_code == 202, response.data
    entry = response.data["sources"][0]
    source = Source.objects.get(pk=entry["source_id"])
    assert sent == [source.pk]
    _assert_stored_safely(source)
    _assert_clean_display_name(source.name)
    _assert_clean_display_name(source.original_filename)
    assert entry["name"] == source.name
    if expected is not None:
        assert source.name == expected
    if label == "long":
        assert source.name.endswith(".pdf") and len(source.name) <= 255
    assert Path(source.file.path).read_bytes() == PDF
    assert _snapshot_outside_media() == before
    assert not (Path.cwd() / "x.pdf").exists()


@pytest.mark.django_db
def test_many_hostile_names_in_one_upload_never_share_a_stored_file(api_client, chatbot, sent):
    files = [(raw, PDF + str(i).encode()) for i, (_, raw, _) in enumerate(HOSTILE_NAMES)]

    response = upload(api_client, chatbot.pk, *files)

    assert response.status_code == 202
    sources = list(Source.objects.filter(chatbot=chatbot))
    assert len(sources) == len(files) == len(sent)
    assert len({s.file.name for s in sources}) == len(files)
    for source in sources:
        _assert_stored_safely(source)
    assert {Path(s.file.name).name for s in sources} <= _stored_files(chatbot)


@pytest.mark.django_db
def test_html_named_pdf_is_refused_415(api_client, chatbot, sent):
    before = _stored_files(chatbot)

    response = upload(api_client, chatbot.pk, ("login.pdf", documents.build_html_named_pdf()))

    assert response.status_code == 415
    entry = response.data["sources"][0]
    assert (entry["status"], entry["error_code"], entry["source_id"]) == ("refused", "unsupported_type", None)
    assert "not a PDF" in entry["detail"]
    assert not Source.objects.exists() and sent == []
    assert _stored_files(chatbot) == before


@pytest.mark.django_db
def test_hostile_name_on_a_refused_file_is_cleaned_in_the_answer(api_client, chatbot, sent):
    response = upload(api_client, chatbot.pk, ("../..\\evil\u202egpj.\x00pdf", documents.build_html_named_pdf()))

    assert response.status_code == 415
    _assert_clean_display_name(response.data["sources"][0]["name"])
    assert not Source.objects.exists() and sent == []


@pytest.mark.django_db
def test_name_that_is_only_dots_and_an_extension_is_refused_clearly(api_client, chatbot, sent):
    response = upload(api_client, chatbot.pk, ("....pdf", PDF))

    # Leading dots are stripped from display names (no hidden files), which leaves no extension.
    assert response.status_code == 415
    entry = response.data["sources"][0]
    assert (entry["status"], entry["error_code"]) == ("refused", "unsupported_type")
    assert "not supported" in entry["detail"]
    _assert_clean_display_name(entry["name"])
    assert not Source.objects.exists() and sent == []


def _random_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/readme.txt", "Not a Word document at all.")
        archive.writestr("data.bin", os.urandom(2048))
    return out.getvalue()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_random_zip_named_docx_is_accepted_then_fails_corrupt(api_client, chatbot, celery_worker):
    response = upload(api_client, chatbot.pk, ("../report\u202e.docx", _random_zip()))

    assert response.status_code == 202, response.data  # a zip is what a .docx looks like from outside
    source = wait_for_source(response.data["sources"][0]["source_id"])
    assert (source.status, source.error_code) == ("failed", "corrupt"), source.error_message
    assert "not a valid Word document" in source.error_message
    assert not Chunk.objects.filter(source=source).exists()
    assert source.name == "report.docx"
    _assert_stored_safely(source)

    nxt = upload(api_client, chatbot.pk, ("ok.txt", b"A plain file after the fake one."))
    assert wait_for_source(nxt.data["sources"][0]["source_id"]).status == "completed"
