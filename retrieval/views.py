"""``GET /api/chatbots/{id}/search/``: owner-scoped search over a chatbot's knowledge."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from botsmith.models import Chatbot
from retrieval.serializers import SearchQuerySerializer, SearchResultSerializer
from retrieval.services.search import search
from sources.models import Source


class SearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="The question, as typed."),
            OpenApiParameter("k", OpenApiTypes.INT, description="How many results (default 10)."),
            OpenApiParameter("mode", OpenApiTypes.STR, enum=["hybrid", "keyword", "semantic"]),
            OpenApiParameter("source", OpenApiTypes.INT, many=True, description="Only these sources (repeatable)."),
        ],
        responses=SearchResultSerializer,
    )
    def get(self, request: Request, chatbot_id: int) -> Response:
        chatbot = get_object_or_404(Chatbot.objects.filter(owner_id=request.user.pk), pk=chatbot_id)
        params = SearchQuerySerializer(data={
            "q": request.query_params.get("q", ""),
            "k": request.query_params.get("k", 10),
            "mode": request.query_params.get("mode", "hybrid"),
            "sources": request.query_params.getlist("source"),
        })
        if not params.is_valid():
            errors = dict(params.errors)
            if "sources" in errors:  # named after the query parameter the caller used
                errors["source"] = errors.pop("sources")
            raise serializers.ValidationError(errors)
        data = params.validated_data
        source_ids = sorted(set(data["sources"]))
        if source_ids:
            known = set(Source.objects.filter(chatbot=chatbot, pk__in=source_ids).values_list("pk", flat=True))
            unknown = [s for s in source_ids if s not in known]
            if unknown:
                raise serializers.ValidationError({"source": [f"Not a source of this chatbot: {unknown}"]})
        result = search(chatbot, data["q"], k=data["k"], mode=data["mode"], source_ids=source_ids or None)
        return Response(SearchResultSerializer(result).data)
