"""API views of the core app: chatbots and the health probes."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework import permissions, status, viewsets
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import health, metrics, monitoring
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


class LivenessView(View):
    """The process answers: no database, no broker, no cache (a restart would not fix those)."""

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"status": "ok"})


class HealthView(APIView):
    """Readiness: 200 when database, broker and a worker heartbeat are up, 503 naming what is down.

    Anonymous callers get the status and the names of what is down; staff users and holders of
    ``MONITORING_TOKEN`` also get each check's detail, queue depths and ages, workers and beat.
    """

    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "health"

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        broker, worker = health.check_broker_and_workers()
        checks = {"database": health.check_database(), "broker": broker, "worker": worker}
        healthy = all(c.ok for c in checks.values())
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "down": [name for name, c in checks.items() if not c.ok],
        }
        if monitoring.is_staff(request) or monitoring.has_monitoring_token(request):
            body["checks"] = {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()}
            # OCR is optional (only scans and images need it): reported, never a reason to be down.
            ocr = health.check_ocr()
            body["ocr"] = {"available": ocr.ok, "detail": ocr.detail}
            if broker.ok:
                body.update(health.details())
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class CanSeeMetrics(permissions.BasePermission):
    """Staff, the ``MONITORING_TOKEN`` bearer, or a caller from ``METRICS_ALLOWED_NETWORKS``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return (
            monitoring.is_staff(request)
            or monitoring.has_monitoring_token(request)
            or monitoring.from_allowed_network(request)
        )


class PrometheusRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class MetricsView(APIView):
    """Prometheus text exposition of queues, workers, task counters and timings, sources and chunks."""

    permission_classes = [CanSeeMetrics]
    renderer_classes = [PrometheusRenderer, JSONRenderer]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "metrics"

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
