"""API shapes of search."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from retrieval.services.search import MODES


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(trim_whitespace=True, allow_blank=False)
    k = serializers.IntegerField(required=False, default=10, min_value=1)
    mode = serializers.ChoiceField(choices=MODES, required=False, default="hybrid")
    sources = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list,
                                    max_length=100)

    def validate_q(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Ask something: the query is empty.")
        if len(value) > settings.SEARCH_MAX_QUERY_CHARS:
            raise serializers.ValidationError(f"At most {settings.SEARCH_MAX_QUERY_CHARS} characters.")
        return value

    def validate_k(self, value: int) -> int:
        if value > settings.SEARCH_MAX_K:
            raise serializers.ValidationError(f"At most {settings.SEARCH_MAX_K} results.")
        return value


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    source_name = serializers.CharField()
    ordinal = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
    metadata = serializers.DictField()


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.CharField(help_text="The mode asked for.")
    mode_used = serializers.CharField(help_text="The mode that answered: keyword when vectors are not ready.")
    notice = serializers.CharField(help_text="Why the answer is partial or keyword-only; empty otherwise.")
    results = SearchHitSerializer(many=True)
