"""build_analytics_report: figures match ones computed independently here, on a known dataset."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from analytics.services.reports import build_analytics_report
from botsmith.models import Message
from sources.models import Source
from tests.analytics.factories_analytics import chunk, conversation_with, source
from tests.factories import ChatbotFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
START = END - timedelta(days=7)
U, A = Message.Role.USER, Message.Role.ASSISTANT


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


@pytest.fixture
def dataset(chatbot):
    """3 conversations with 7 messages in the window (+1 without messages), and noise outside it."""
    conversation_with(chatbot, "a", at(4, 9, 10), [(U, at(4, 9, 10), None, None), (A, at(4, 9, 11), 1200, 1),
                                                   (U, at(4, 9, 15), None, None), (A, at(4, 9, 16), 800, None)])
    conversation_with(chatbot, "b", at(4, 14), [(U, at(4, 14), None, None), (A, at(4, 14, 1), 3000, -1)])
    conversation_with(chatbot, "a", at(7, 9, 30), [(U, at(7, 9, 30), None, None)])
    conversation_with(chatbot, "c", at(10, 11, 59), [])
    # outside the window: before its start, at its (excluded) end, and another chatbot's
    conversation_with(chatbot, "old", at(3, 11), [(U, at(3, 11), None, None), (A, at(3, 11, 59), 99999, 1)])
    conversation_with(chatbot, "late", END, [(U, END, None, None)])
    conversation_with(ChatbotFactory(), "a", at(5, 9), [(U, at(5, 9), None, None), (A, at(5, 9, 1), 5, 1)])
    completed = source(chatbot)
    source(chatbot, status=Source.Status.COMPLETED)
    source(chatbot, status=Source.Status.FAILED)
    for i, chars in enumerate([10, 20, 30]):
        chunk(completed, i, chars)
    chunk(completed, 9, 100, active=False)
    return chatbot


def test_known_dataset(dataset):
    data = build_analytics_report(dataset, START, END)

    # "old" started before the window and "late" at its excluded end: 4 conversations.
    assert data["conversations"] == 4
    assert data["unique_visitors"] == 3
    assert data["messages"] == {"total": 7, "user": 4, "assistant": 3}
    lengths = [4, 2, 1, 0]
    assert data["messages_per_conversation"] == {"mean": statistics.mean(lengths),
                                                 "median": statistics.median(lengths)}
    times = [1200, 800, 3000]
    assert data["response_time_ms"] == {"count": 3, "mean": round(statistics.mean(times), 2),
                                        "p50": statistics.median(times), "p95": round(p95(times), 2)}
    assert data["feedback"] == {"positive": 1, "negative": 1, "ratio": 0.5}
    hourly = [0] * 24
    hourly[9], hourly[14] = 5, 2
    assert data["hourly"] == hourly
    assert data["busiest_hour"] == 9
    assert data["knowledge_base"] == {
        "sources": {"queued": 0, "pending": 0, "processing": 0, "completed": 2, "failed": 1, "cancelled": 0},
        "sources_total": 3, "chunks": 3, "characters": 60,
    }


def test_day_series_is_zero_filled_over_every_day_of_the_window(dataset):
    daily = build_analytics_report(dataset, START, END)["daily"]

    assert [d["date"] for d in daily] == [f"2025-03-{day:02d}" for day in range(3, 11)]
    by_date = {d["date"]: (d["conversations"], d["messages"]) for d in daily}
    assert by_date == {"2025-03-03": (0, 0), "2025-03-04": (2, 6), "2025-03-05": (0, 0), "2025-03-06": (0, 0),
                       "2025-03-07": (1, 1), "2025-03-08": (0, 0), "2025-03-09": (0, 0), "2025-03-10": (1, 0)}


def test_percentiles_match_statistics_on_a_larger_random_sample(chatbot):
    rng = random.Random(7)
    times, lengths = [], []
    for i in range(23):
        conversation = ConversationFactory(chatbot=chatbot, started_at=at(5, 8) + timedelta(minutes=i))
        n = rng.randint(0, 9)
        lengths.append(n)
        for j in range(n):
            rt = rng.randint(100, 9000) if j % 2 else None
            if rt is not None:
                times.append(rt)
            MessageFactory(conversation=conversation, role=A if j % 2 else U, response_time_ms=rt,
                           created_at=at(5, 8) + timedelta(minutes=i, seconds=j))

    data = build_analytics_report(chatbot, START, END)

    assert data["response_time_ms"]["p50"] == round(statistics.median(times), 2)
    assert data["response_time_ms"]["p95"] == round(p95(times), 2)
    assert data["response_time_ms"]["mean"] == round(statistics.mean(times), 2)
    assert data["messages_per_conversation"]["median"] == statistics.median(lengths)
    assert data["messages_per_conversation"]["mean"] == round(statistics.mean(lengths), 2)


def test_chatbot_without_data_gives_zeros_and_empty_averages(chatbot):
    data = build_analytics_report(chatbot, START, END)

    assert (data["conversations"], data["unique_visitors"]) == (0, 0)
    assert data["messages"] == {"total": 0, "user": 0, "assistant": 0}
    assert data["messages_per_conversation"] == {"mean": None, "median": None}
    assert data["response_time_ms"] == {"count": 0, "mean": None, "p50": None, "p95": None}
    assert data["feedback"] == {"positive": 0, "negative": 0, "ratio": None}
    assert data["hourly"] == [0] * 24 and data["busiest_hour"] is None
    assert len(data["daily"]) == 8 and all(d["conversations"] == d["messages"] == 0 for d in data["daily"])
    assert data["knowledge_base"]["chunks"] == 0 and data["knowledge_base"]["characters"] == 0
