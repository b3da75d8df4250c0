"""API views of reports: request, list, detail and CSV export, all owner-scoped."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.csv_export import daily_series_csv
from analytics.models import AnalyticsReport
from analytics.serializers import ReportListSerializer, ReportRequestSerializer, ReportSerializer
from analytics.services.dispatch import request_report
from botsmith.selectors import get_chatbot_for_user


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        # Errors (404, 409) still reach a client that asked for CSV only: send them as JSON text.
        return data.encode() if isinstance(data, str) else JSONRenderer().render(data)


class ReportNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "report_not_ready"


class ChatbotReportList(generics.GenericAPIView):
    """GET: the chatbot's reports, newest first. POST ``period``: queue a new report (202)."""

    serializer_class = ReportListSerializer

    def get_queryset(self) -> QuerySet[AnalyticsReport]:
        return selectors.reports_for_chatbot(get_chatbot_for_user(self.request.user, self.kwargs["chatbot_id"]))

    def get(self, request: Request, chatbot_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=ReportRequestSerializer, responses={202: dict, 400: dict, 404: dict})
    def post(self, request: Request, chatbot_id: int) -> Response:
        chatbot = get_chatbot_for_user(request.user, chatbot_id)
        serializer = ReportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = request_report(chatbot, serializer.validated_data["period"], request.user)
        body = {"report_id": report.pk, "task_id": report.task_id, "status": report.status, "period": report.period}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ReportDetail(generics.RetrieveAPIView):
    serializer_class = ReportSerializer

    def get_queryset(self) -> QuerySet[AnalyticsReport]:
        return selectors.reports_for_user(self.request.user)


class ReportCsvExport(APIView):
    """The report's day series as ``date,conversations,messages``."""

    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="date,conversations,messages"),
                              404: dict, 409: dict})
    def get(self, request: Request, pk: int) -> HttpResponse:
        report = selectors.get_report_for_user(request.user, pk)
        if report.status != AnalyticsReport.Status.COMPLETED:
            raise ReportNotReady(f"The report is not ready yet (status: {report.status}).")
        response = HttpResponse(daily_series_csv(report.data.get("daily", [])), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-{report.period}.csv"'
        return response
