"""API docs are self-hosted: every script and stylesheet is a local static file, under a strict CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_page_loads_only_local_assets_under_a_csp(anon_client, url):
    response = anon_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert assets, html
    assert [a for a in assets if not a.startswith("/")] == []
    for asset in assets:
        path = asset.split("?")[0]
        if path.startswith("/static/"):
            assert finders.find(path.removeprefix("/static/")), asset
    assert "<script>" not in html  # no inline script: the CSP forbids it
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_swagger_start_script_is_served_separately(anon_client):
    response = anon_client.get("/api/docs/", {"script": ""})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in response.content.decode()
