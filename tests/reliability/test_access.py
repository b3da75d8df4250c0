"""Cross-user access to every endpoint with another user's ids is a 404, same as a missing id; anonymous is 401."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from analytics.models import AnalyticsReport
from notifications.models import Notification
from sources.models import Chunk, Source
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]

MISSING = 987654


@pytest.fixture
def owned(user, chatbot):
    """One object of every kind, all belonging to ``user``."""
    now = timezone.now()
    source = Source.objects.create(chatbot=chatbot, kind="file", name="a.txt", status="completed",
                                   task_id=str(uuid.uuid4()))
    Chunk.objects.create(source=source, chatbot=chatbot, ordinal=0, text="t", char_count=1, token_count=1,
                         content_hash="h", is_active=True)
    report = AnalyticsReport.objects.create(chatbot=chatbot, period="7d", period_start=now, period_end=now,
                                            period_end_date=now.date(), status="completed", requested_by=user,
                                            task_id=str(uuid.uuid4()))
    notification = Notification.objects.create(user=user, title="t", message="m", notification_type="info")
    conversation = ConversationFactory(chatbot=chatbot)
    return {"chatbot": chatbot.pk, "source": source.pk, "source_task": source.task_id, "report": report.pk,
            "report_task": report.task_id, "notification": notification.pk, "conversation": conversation.pk}


def _endpoints(ids: dict) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/api/chatbots/{ids['chatbot']}/", {}),
        ("patch", f"/api/chatbots/{ids['chatbot']}/", {"name": "stolen"}),
        ("delete", f"/api/chatbots/{ids['chatbot']}/", {}),
        ("get", f"/api/chatbots/{ids['chatbot']}/sources/", {}),
        ("post", f"/api/chatbots/{ids['chatbot']}/sources/website/", {"url": "https://example.com/"}),
        ("get", f"/api/sources/{ids['source']}/", {}),
        ("get", f"/api/sources/{ids['source']}/chunks/", {}),
        ("post", f"/api/sources/{ids['source']}/reprocess/", {}),
        ("post", f"/api/sources/{ids['source']}/cancel/", {}),
        ("delete", f"/api/sources/{ids['source']}/", {}),
        ("get", f"/api/tasks/{ids['source_task']}/", {}),
        ("get", f"/api/tasks/{ids['report_task']}/", {}),
        ("get", f"/api/chatbots/{ids['chatbot']}/reports/", {}),
        ("post", f"/api/chatbots/{ids['chatbot']}/reports/", {"period": "7d"}),
        ("get", f"/api/reports/{ids['report']}/", {}),
        ("get", f"/api/reports/{ids['report']}/export.csv", {}),
        ("post", f"/api/notifications/{ids['notification']}/read/", {}),
        ("delete", f"/api/notifications/{ids['notification']}/", {}),
        ("post", f"/api/chatbots/{ids['chatbot']}/conversations/", {"visitor_id": "v"}),
        ("post", f"/api/conversations/{ids['conversation']}/messages/", {"role": "user", "content": "hi"}),
    ]


def test_another_users_ids_are_404_like_missing_ones(other_client, owned):
    missing = {key: (str(uuid.uuid4()) if key.endswith("task") else MISSING) for key in owned}
    for (method, url, body), (_, missing_url, _) in zip(_endpoints(owned), _endpoints(missing), strict=True):
        theirs = getattr(other_client, method)(url, body, format="json")
        nothing = getattr(other_client, method)(missing_url, body, format="json")
        assert theirs.status_code == 404, (method, url, theirs.status_code)
        assert nothing.status_code == 404, (method, missing_url, nothing.status_code)
        assert theirs.content == nothing.content, url  # no difference in the body either


def test_nothing_of_the_owner_changed(other_client, owned, user):
    for method, url, body in _endpoints(owned):
        getattr(other_client, method)(url, body, format="json")

    assert Source.objects.filter(pk=owned["source"], status="completed").exists()
    assert Chunk.objects.filter(source_id=owned["source"]).count() == 1
    assert Notification.objects.filter(pk=owned["notification"], read_at__isnull=True).exists()
    assert AnalyticsReport.objects.filter(chatbot_id=owned["chatbot"]).count() == 1
    assert user.chatbots.get().name != "stolen"


def test_lists_show_only_own_objects(other_client, owned):
    assert other_client.get("/api/chatbots/").data["count"] == 0
    assert other_client.get("/api/notifications/").data["count"] == 0
    assert other_client.get("/api/notifications/unread-count/").data["unread"] == 0


def test_anonymous_gets_401_everywhere(anon_client, owned):
    for method, url, body in [*_endpoints(owned), ("get", "/api/chatbots/", {}), ("get", "/api/notifications/", {}),
                              ("post", f"/api/chatbots/{owned['chatbot']}/sources/upload/", {})]:
        response = getattr(anon_client, method)(url, body, format="json")
        assert response.status_code == 401, (method, url, response.status_code)
