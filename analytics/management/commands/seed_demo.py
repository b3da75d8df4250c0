"""manage.py seed_demo: a demo chatbot with realistic conversations over the last N days."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from botsmith.models import Chatbot, Conversation, Message

DEMO_USERNAME = "demo"
DEMO_CHATBOT = "Demo support bot"
BATCH_SIZE = 2000
# Relative traffic per hour of day (UTC): quiet nights, a late-morning and an afternoon peak.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 12, 12, 9, 10, 12, 11, 9, 7, 6, 5, 4, 3, 2, 1]
WEEKDAY_FACTOR = [1.0, 1.05, 1.0, 0.95, 0.85, 0.45, 0.35]  # Monday..Sunday
QUESTIONS = ["How do I reset my password?", "What are your opening hours?", "Can I change my plan?",
             "Where is my order?", "Do you ship abroad?", "How do I cancel?", "Is there a student discount?"]
ANSWERS = ["Here is how to do it:", "Our documentation says:", "Good question. In short:", "According to our FAQ:"]


class Command(BaseCommand):
    help = "Fill a demo chatbot (owner 'demo') with conversations; re-running replaces them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=90, help="How many days back (default 90).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a repeatable dataset.")
        parser.add_argument("--per-day", type=int, default=25, help="Average conversations on a weekday.")

    def handle(self, *args: Any, days: int, seed: int | None, per_day: int, **options: Any) -> None:
        if not 1 <= days <= 3650:
            self.stderr.write("--days must be between 1 and 3650.")
            return
        rng = random.Random(seed)
        user, created = get_user_model().objects.get_or_create(username=DEMO_USERNAME,
                                                               defaults={"email": "demo@example.com"})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        chatbot, _ = Chatbot.objects.get_or_create(owner=user, name=DEMO_CHATBOT)
        now = timezone.now()
        with transaction.atomic():
            replaced, _ = Conversation.objects.filter(chatbot=chatbot).delete()
            conversations = _conversations(rng, chatbot, now, days, per_day)
            Conversation.objects.bulk_create(conversations, batch_size=BATCH_SIZE)
            messages: list[Message] = []
            for conversation in conversations:
                turns = _messages(rng, conversation, now)
                conversation.last_activity_at = max(conversation.last_activity_at, turns[-1].created_at)
                messages.extend(turns)
            Message.objects.bulk_create(messages, batch_size=BATCH_SIZE)
            Conversation.objects.bulk_update(conversations, ["last_activity_at"], batch_size=BATCH_SIZE)
        rated = sum(1 for m in messages if m.feedback is not None)
        self.stdout.write(
            f"Demo chatbot #{chatbot.pk} {chatbot.name!r} (owner {user.username!r}): "
            f"{len(conversations)} conversations, {len(messages)} messages ({rated} with feedback) "
            f"over {days} days; {replaced} old rows replaced."
        )


def _conversations(rng: random.Random, chatbot: Chatbot, now: datetime, days: int,
                   per_day: int) -> list[Conversation]:
    start_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    visitors = [f"demo-visitor-{i}" for i in range(max(per_day * days // 3, 1))]
    result = []
    for offset in range(days):
        day = start_day + timedelta(days=offset)
        expected = per_day * WEEKDAY_FACTOR[day.weekday()] * (1 + 0.3 * offset / days)  # slow growth
        for _ in range(max(int(rng.gauss(expected, expected * 0.2)), 0)):
            started = day + timedelta(hours=rng.choices(range(24), HOUR_WEIGHTS)[0],
                                      minutes=rng.randrange(60), seconds=rng.randrange(60))
            if started >= now:
                continue
            result.append(Conversation(chatbot=chatbot, visitor_id=rng.choice(visitors),
                                       started_at=started, last_activity_at=started))
    return result


def _messages(rng: random.Random, conversation: Conversation, now: datetime) -> list[Message]:
    at = conversation.started_at
    messages: list[Message] = []
    for _ in range(rng.choices([1, 2, 3, 4, 5], [35, 30, 18, 10, 7])[0]):
        if messages and at >= now:
            break
        question = rng.choice(QUESTIONS)
        messages.append(Message(conversation=conversation, role=Message.Role.USER, content=question,
                                created_at=min(at, now)))
        response_ms = int(min(rng.lognormvariate(7.0, 0.5), 20000))  # median about 1.1 s
        at += timedelta(milliseconds=response_ms)
        roll = rng.random()
        feedback = Message.Feedback.POSITIVE if roll < 0.12 else Message.Feedback.NEGATIVE if roll < 0.16 else None
        messages.append(Message(conversation=conversation, role=Message.Role.ASSISTANT,
                                content=f"{rng.choice(ANSWERS)} {question.lower()}", created_at=min(at, now),
                                response_time_ms=response_ms, feedback=feedback))
        at += timedelta(seconds=rng.randint(10, 180))
    return messages
