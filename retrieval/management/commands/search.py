"""``python manage.py search CHATBOT_ID "question"``: search a chatbot's knowledge from a shell."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from botsmith.models import Chatbot
from retrieval.services.search import MODES, search


class Command(BaseCommand):
    help = "Search a chatbot's chunks as its runtime would (hybrid by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("chatbot_id", type=int)
        parser.add_argument("query")
        parser.add_argument("-k", type=int, default=5)
        parser.add_argument("--mode", choices=MODES, default="hybrid")
        parser.add_argument("--source", type=int, action="append", help="Only this source (repeatable).")
        parser.add_argument("--json", action="store_true", help="Print the API's JSON instead of a summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        chatbot = Chatbot.objects.filter(pk=options["chatbot_id"]).first()
        if chatbot is None:
            raise CommandError(f"No chatbot {options['chatbot_id']}")
        query = options["query"].strip()
        if not query:
            raise CommandError("The question is empty.")
        result = search(chatbot, query, k=max(1, min(options["k"], 50)), mode=options["mode"],
                        source_ids=options["source"])
        if options["json"]:
            from retrieval.serializers import SearchResultSerializer

            self.stdout.write(json.dumps(SearchResultSerializer(result).data, indent=2, ensure_ascii=False))
            return
        self.stdout.write(f"{len(result.results)} result(s), mode {result.mode_used}")
        if result.notice:
            self.stdout.write(self.style.WARNING(result.notice))
        for rank, hit in enumerate(result.results, start=1):
            where = ", ".join(f"{k}={v}" for k, v in hit.metadata.items() if k in ("page", "url", "sheet", "slide"))
            self.stdout.write(f"{rank}. [{hit.score:.4f}] {hit.source_name} #{hit.ordinal} {where}")
            self.stdout.write("   " + hit.text[:300].replace("\n", " "))
