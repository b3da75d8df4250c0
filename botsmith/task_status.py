"""GET /api/tasks/{task_id}/: a task's state, for the owner of the object it works on (or staff).

Ownership is decided by the object (a source, a report), never by the task id alone: an id the
user does not own, a random UUID and garbage all get the same 404. django-celery-results' own
views are never routed. When a stored result has expired, the state comes from the object.
"""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.selectors import find_report_by_task_id
from botsmith.celery import app
from sources.selectors import find_source_by_task_id

_FINAL_FROM_STATUS = {"completed": "SUCCESS", "failed": "FAILURE", "cancelled": "REVOKED"}


def _object_view(user: Any, task_id: str) -> dict[str, Any] | None:
    source = find_source_by_task_id(user, task_id)
    if source is not None:
        return {
            "kind": "source", "id": source.pk, "status": source.status,
            "progress": {"percent": source.progress, "stage": source.stage, "units_done": source.units_done,
                         "units_total": source.units_total, "unit_name": source.unit_name},
            "result": {"source_id": source.pk, "status": source.status, "chunk_count": source.chunk_count,
                       "char_count": source.char_count},
            "error": {"code": source.error_code, "message": source.error_message} if source.error_code else None,
        }
    report = find_report_by_task_id(user, task_id)
    if report is not None:
        return {
            "kind": "report", "id": report.pk, "status": report.status, "progress": None,
            "result": {"report_id": report.pk, "status": report.status},
            "error": {"code": "failed", "message": report.error_message} if report.status == "failed" else None,
        }
    return None


class TaskStatusView(APIView):
    @extend_schema(responses={200: dict, 404: dict})
    def get(self, request: Request, task_id: str) -> Response:
        if len(task_id) > 255:
            raise Http404
        obj = _object_view(request.user, task_id)
        if obj is None:
            raise Http404
        result = AsyncResult(task_id, app=app)
        state = stored = result.state
        final = _FINAL_FROM_STATUS.get(obj["status"])
        if final and state in ("PENDING", "STARTED", "RETRY"):
            state = final  # the stored result expired, or the run ended without one
        elif obj["status"] == "processing" and state in ("PENDING", "STARTED"):
            state = "PROGRESS"
        body: dict[str, Any] = {"task_id": task_id, "status": state, obj["kind"]: obj["id"]}
        if state == "SUCCESS":
            # Between the row's commit and the stored result, the backend still holds STARTED's meta
            # (pid, hostname): only a stored SUCCESS is the task's own result.
            stored_result = result.result if stored == "SUCCESS" else None
            body["result"] = stored_result if isinstance(stored_result, dict) else obj["result"]
        if state == "FAILURE":
            body["error"] = obj["error"] or {"code": "failed", "message": str(result.result)}
        if state in ("PROGRESS", "STARTED", "PENDING") and obj["progress"]:
            body["progress"] = obj["progress"]
        return Response(body)
