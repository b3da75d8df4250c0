"""Every registered admin page (ours, django-celery-beat's and -results') renders."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_data(client):
    MessageFactory()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


def test_every_model_of_our_apps_is_registered():
    from django.apps import apps

    ours = [m for label in ("botsmith", "sources", "notifications", "analytics")
            for m in apps.get_app_config(label).get_models()]
    assert ours
    assert [m.__name__ for m in ours if m not in admin.site._registry] == []


def test_every_model_admin_changelist_and_add_page_renders(admin_client_with_data):
    labels = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    assert {("botsmith", "chatbot"), ("django_celery_beat", "periodictask"),
            ("django_celery_results", "taskresult")} <= labels
    for app_label, model_name in sorted(labels):
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
        response = admin_client_with_data.get(url)
        assert response.status_code == 200, url
        response = admin_client_with_data.get(url, {"q": "x"})
        assert response.status_code == 200, url
