"""GET /api/chatbots/{id}/search/: validation, ownership and the response shape."""

from __future__ import annotations

import pytest

from tests.factories import ChatbotFactory
from tests.retrieval.helpers_retrieval import make_source

pytestmark = pytest.mark.django_db

DOCS = [
    "To reset your password, open Settings, choose Security and press Reset password.",
    "Invoices are sent on the first day of each month to the billing e-mail address.",
    "The mobile app works offline and syncs when the connection returns.",
]


def url(chatbot_id: int) -> str:
    return f"/api/chatbots/{chatbot_id}/search/"


def test_answers_with_results_and_citation_metadata(api_client, chatbot, keyword_only):
    source = make_source(chatbot, DOCS, name="help.pdf", metadata=[{"page": 3}, {"page": 7}, {"page": 9}])
    response = api_client.get(url(chatbot.pk), {"q": "How do I reset my password?"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["query"] == "How do I reset my password?"
    assert body["mode"] == "hybrid" and body["mode_used"] == "keyword"
    assert "keyword" in body["notice"]
    top = body["results"][0]
    assert set(top) == {"chunk_id", "source_id", "source_name", "ordinal", "text", "score", "metadata"}
    assert top["source_id"] == source.pk and top["source_name"] == "help.pdf"
    assert top["text"] == DOCS[0] and top["ordinal"] == 0 and top["metadata"] == {"page": 3}


def test_k_limits_the_results(api_client, chatbot, keyword_only):
    make_source(chatbot, [f"Password tip number {i}." for i in range(8)])
    body = api_client.get(url(chatbot.pk), {"q": "password tip", "k": 3, "mode": "keyword"}).json()
    assert len(body["results"]) == 3 and body["mode_used"] == "keyword"


def test_source_filter_is_repeatable_and_checked(api_client, chatbot, keyword_only):
    first = make_source(chatbot, ["Password rules for staff."], name="a")
    second = make_source(chatbot, ["Password rules for guests."], name="b")
    make_source(chatbot, ["Password rules for admins."], name="c")
    response = api_client.get(url(chatbot.pk) + f"?q=password&source={first.pk}&source={second.pk}")
    assert {hit["source_id"] for hit in response.json()["results"]} == {first.pk, second.pk}
    foreign = make_source(ChatbotFactory(), ["Password rules elsewhere."])
    response = api_client.get(url(chatbot.pk), {"q": "password", "source": foreign.pk})
    assert response.status_code == 400 and "source" in response.json()
    response = api_client.get(url(chatbot.pk), {"q": "password", "source": "abc"})
    assert response.status_code == 400 and "source" in response.json()


def test_another_users_chatbot_is_a_404_and_anonymous_is_401(api_client, other_client, anon_client, chatbot,
                                                              keyword_only):
    make_source(chatbot, DOCS)
    assert other_client.get(url(chatbot.pk), {"q": "password"}).status_code == 404
    assert anon_client.get(url(chatbot.pk), {"q": "password"}).status_code == 401
    assert api_client.get(url(999999), {"q": "password"}).status_code == 404


@pytest.mark.parametrize("params", [
    {}, {"q": ""}, {"q": "   "}, {"q": "x" * 1001}, {"q": "ok", "k": 0}, {"q": "ok", "k": 51},
    {"q": "ok", "k": "ten"}, {"q": "ok", "mode": "fuzzy"}, {"q": "ok", "source": "abc"},
    {"q": "\x00password"},
])
def test_bad_parameters_are_a_400(api_client, chatbot, params, keyword_only):
    response = api_client.get(url(chatbot.pk), params)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("q", ['"', "AND OR NOT", "NEAR(a b)", "text:*", "'; DROP TABLE sources_chunk; --", "🌹",
                               "password\\", "a:b:c", "the"])
def test_hostile_query_strings_answer_200(api_client, chatbot, q, keyword_only):
    make_source(chatbot, DOCS)
    response = api_client.get(url(chatbot.pk), {"q": q})
    assert response.status_code == 200, response.content
    assert isinstance(response.json()["results"], list)


def test_manage_py_search_prints_the_hits(chatbot, keyword_only, capsys):
    from django.core.management import call_command

    make_source(chatbot, DOCS, name="help.pdf")
    call_command("search", str(chatbot.pk), "reset password", "-k", "2")
    out = capsys.readouterr().out
    assert "help.pdf" in out and "Reset password" in out


def test_admin_try_search_page(admin_client, chatbot, keyword_only):
    make_source(chatbot, DOCS, name="help.pdf")
    page = admin_client.get("/admin/retrieval/embedding/try-search/", {"chatbot": chatbot.pk, "q": "invoices",
                                                                     "mode": "hybrid", "k": 5})
    assert page.status_code == 200
    assert b"Invoices are sent" in page.content and b"help.pdf" in page.content
    assert admin_client.get("/admin/retrieval/embedding/").status_code == 200
