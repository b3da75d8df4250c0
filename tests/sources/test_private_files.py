"""Stored uploads are never handed out as files: no /media/ route, no file link in the admin."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve, reverse

from sources.models import Source
from tests.factories import ChatbotFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_no_url_serves_stored_uploads():
    with pytest.raises(Resolver404):
        resolve("/media/sources/1/0123456789abcdef.pdf")


def test_the_admin_names_the_stored_file_without_linking_it(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    source = Source.objects.create(chatbot=ChatbotFactory(), kind=Source.Kind.FILE, name="guide.pdf",
                                   file="sources/7/0123456789abcdef.pdf")

    page = client.get(reverse("admin:sources_source_change", args=[source.pk])).content.decode()

    assert "sources/7/0123456789abcdef.pdf" in page
    assert 'href="/media/' not in page and "0123456789abcdef.pdf</a>" not in page
