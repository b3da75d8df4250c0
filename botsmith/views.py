"""API views of the core app: chatbots and the health check."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from . import health
from .models import Chatbot
from .selectors import chatbots_for_user
from .serializers import ChatbotSerializer


class ChatbotViewSet(viewsets.ModelViewSet):
    """A user's chatbots; another user's chatbot is a 404."""

    serializer_class = ChatbotSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Chatbot]:
        return chatbots_for_user(self.request.user)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.save(owner=self.request.user)


class HealthView(APIView):
    """Database, broker and worker reachability: 200 when all are up, 503 naming what is down."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        checks = {
            "database": health.check_database(),
            "broker": health.check_broker(),
        }
        # Pinging workers needs the broker; skip the slow ping when the broker is down.
        checks["worker"] = (
            health.check_workers() if checks["broker"].ok else health.Check(False, "broker unreachable")
        )
        healthy = all(c.ok for c in checks.values())
        # OCR is optional (only scans and images need it), so it is reported but never makes us "down".
        ocr = health.check_ocr()
        body = {
            "status": "ok" if healthy else "unavailable",
            "down": [name for name, c in checks.items() if not c.ok],
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
            "ocr": {"available": ocr.ok, "detail": ocr.detail},
        }
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)
