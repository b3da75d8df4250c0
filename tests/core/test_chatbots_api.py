"""Chatbot API: owners see and change only their own chatbots."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from botsmith.models import Chatbot
from tests.factories import ChatbotFactory

pytestmark = pytest.mark.django_db


def test_create_sets_owner_and_list_shows_only_own(api_client, user, other_user):
    ChatbotFactory(owner=other_user, name="Not mine")

    created = api_client.post("/api/chatbots/", {"name": "Support bot", "chunk_size": 800}, format="json")
    listed = api_client.get("/api/chatbots/")

    assert created.status_code == 201
    assert Chatbot.objects.get(pk=created.data["id"]).owner == user
    assert listed.status_code == 200
    assert [c["name"] for c in listed.data["results"]] == ["Support bot"]


def test_other_users_chatbot_is_404_for_read_update_delete(api_client, other_user):
    theirs = ChatbotFactory(owner=other_user)

    assert api_client.get(f"/api/chatbots/{theirs.pk}/").status_code == 404
    assert api_client.patch(f"/api/chatbots/{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert api_client.delete(f"/api/chatbots/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name != "x"


def test_patch_and_delete_own(api_client, chatbot):
    assert api_client.patch(f"/api/chatbots/{chatbot.pk}/", {"name": "Renamed"}, format="json").status_code == 200
    chatbot.refresh_from_db()
    assert chatbot.name == "Renamed"
    assert api_client.delete(f"/api/chatbots/{chatbot.pk}/").status_code == 204
    assert not Chatbot.objects.filter(pk=chatbot.pk).exists()


def test_overlap_must_be_smaller_than_chunk_size(api_client):
    response = api_client.post("/api/chatbots/", {"name": "b", "chunk_size": 200, "chunk_overlap": 200}, format="json")
    assert response.status_code == 400
    assert "chunk_overlap" in response.data


def test_anonymous_is_401(anon_client):
    response = anon_client.get("/api/chatbots/")
    assert response.status_code == 401
    assert "Token" in response["WWW-Authenticate"]


def test_token_from_drf_create_token_authenticates(user):
    call_command("drf_create_token", user.username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    assert client.get("/api/chatbots/").status_code == 200


def test_openapi_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/chatbots/" in schema.content
    assert api_client.get("/api/docs/").status_code == 200
