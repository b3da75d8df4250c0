"""Uploads while the database refuses connections: 503 with Retry-After, never 500, no file left."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from sources.models import Source
from tests.conftest import MEDIA_ROOT
from tests.sources.helpers_sources import upload

pytestmark = pytest.mark.django_db


def _stored_files() -> set[str]:
    return {str(p.relative_to(MEDIA_ROOT)) for p in MEDIA_ROOT.rglob("*") if p.is_file()}


def test_database_refusing_while_saving_sources_is_503_and_stores_nothing(api_client, chatbot, monkeypatch):
    before = _stored_files()
    original_save = Source.save
    saved: list[str] = []

    def refuse_after_the_file_is_stored(self, *args, **kwargs):
        if self.file.name:
            saved.append(self.file.name)
        if len(saved) == 2:  # the first source is saved, the second file is on disk: then the database goes
            raise OperationalError('connection failed: FATAL: sorry, too many clients already')
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Source, "save", refuse_after_the_file_is_stored)

    response = upload(api_client, chatbot.pk, ("a.txt", b"first file"), ("b.txt", b"second file"))

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error_code"] == "database_unavailable"
    assert len(saved) == 2
    assert _stored_files() == before
    monkeypatch.undo()
    assert not Source.objects.filter(chatbot=chatbot).exists()


def test_database_refusing_on_any_api_read_is_503(api_client, chatbot, monkeypatch):
    from sources import selectors

    def refused(*args, **kwargs):
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(selectors, "sources_for_user", refused)

    response = api_client.get("/api/sources/1/")

    assert response.status_code == 503 and response["Retry-After"]
