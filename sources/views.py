"""API views of sources: upload, website, list, detail, chunks, reprocess, cancel, delete."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from botsmith.selectors import get_chatbot_for_user
from sources import selectors
from sources.models import Chunk, Source
from sources.serializers import ChunkSerializer, SourceSerializer, UploadSerializer, WebsiteSerializer
from sources.services import dispatch, management
from sources.services.stored_files import StorageUnavailable
from sources.services.uploads import create_sources_from_upload
from sources.services.websites import WebsiteRequest, create_website_source

logger = logging.getLogger(__name__)


def broker_down_response() -> Response:
    return Response(
        {"error_code": "broker_unavailable", "detail": "The processing queue is unavailable; nothing was saved. "
         "Please try again in a minute."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "30"},
    )


def storage_down_response() -> Response:
    return Response(
        {"error_code": "storage_unavailable", "detail": "File storage is unavailable; nothing was saved. "
         "Please try again in a minute."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "30"},
    )


class UploadView(APIView):
    """POST /api/chatbots/{id}/sources/upload/: one or more ``file`` fields."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "uploads"

    @extend_schema(request=UploadSerializer, responses={202: dict})
    def post(self, request: Request, chatbot_id: int) -> Response:
        chatbot = get_chatbot_for_user(request.user, chatbot_id)
        raw: Any = request.data
        data = {key: raw.get(key) for key in ("chunk_size", "chunk_overlap", "force", "ocr") if key in raw}
        data["file"] = request.FILES.getlist("file")
        serializer = UploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        try:
            outcomes = create_sources_from_upload(
                chatbot, params["file"], chunk_size=params.get("chunk_size"),
                chunk_overlap=params.get("chunk_overlap"), force=params["force"], ocr=params["ocr"],
            )
        except dispatch.BrokerUnavailable:
            return broker_down_response()
        except StorageUnavailable:
            logger.exception("upload to chatbot %s: file storage unavailable", chatbot.pk)
            return storage_down_response()
        accepted = [o for o in outcomes if o.source is not None]
        http_status = status.HTTP_202_ACCEPTED if accepted else outcomes[0].http_status
        return Response({"sources": [o.as_dict() for o in outcomes]}, status=http_status)


class ChatbotSourceList(generics.ListAPIView):
    """GET /api/chatbots/{id}/sources/?status=&kind="""

    serializer_class = SourceSerializer

    def get_queryset(self) -> QuerySet[Source]:
        chatbot = get_chatbot_for_user(self.request.user, self.kwargs["chatbot_id"])
        queryset = Source.objects.filter(chatbot=chatbot)
        for field in ("status", "kind"):
            value = self.request.query_params.get(field)
            if value:
                queryset = queryset.filter(**{field: value})
        return queryset


class SourceViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = SourceSerializer

    def get_queryset(self) -> QuerySet[Source]:
        return selectors.sources_for_user(self.request.user)

    def perform_destroy(self, instance: Source) -> None:
        management.delete_source(instance)

    @extend_schema(responses=ChunkSerializer(many=True))
    @action(detail=True, methods=["get"])
    def chunks(self, request: Request, pk: str | None = None) -> Response:
        source = self.get_object()
        queryset: QuerySet[Chunk] = selectors.list_chunks_for_source(source)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ChunkSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: SourceSerializer})
    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        source = self.get_object()
        try:
            source = dispatch.start_reprocess(source)
        except dispatch.BrokerUnavailable:
            return broker_down_response()
        return Response(SourceSerializer(source).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: SourceSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        source = management.request_cancel(self.get_object())
        return Response(SourceSerializer(source).data, status=status.HTTP_202_ACCEPTED)


class WebsiteView(APIView):
    """POST /api/chatbots/{id}/sources/website/: one URL, optionally crawled."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "uploads"

    @extend_schema(request=WebsiteSerializer, responses={202: dict})
    def post(self, request: Request, chatbot_id: int) -> Response:
        chatbot = get_chatbot_for_user(request.user, chatbot_id)
        serializer = WebsiteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            source = create_website_source(chatbot, WebsiteRequest(**serializer.validated_data))
        except dispatch.BrokerUnavailable:
            return broker_down_response()
        entry = {"source_id": source.pk, "task_id": source.task_id, "status": source.status, "name": source.name}
        return Response({"sources": [entry]}, status=status.HTTP_202_ACCEPTED)
