"""/api/tasks/<id>/ right after a run commits: the backend may still hold STARTED's meta, not the result."""

from __future__ import annotations

import json
import uuid

import pytest
from django_celery_results.models import TaskResult

from sources.models import Source


@pytest.mark.django_db
def test_a_completed_source_with_started_meta_reports_the_rows_result(api_client, chatbot):
    task_id = str(uuid.uuid4())
    source = Source.objects.create(chatbot=chatbot, kind=Source.Kind.FILE, name="a.txt", task_id=task_id,
                                   status=Source.Status.COMPLETED, chunk_count=3)
    TaskResult.objects.create(task_id=task_id, status="STARTED", content_type="application/json",
                              content_encoding="utf-8", result=json.dumps({"pid": 1, "hostname": "w@h"}))

    response = api_client.get(f"/api/tasks/{task_id}/")

    assert response.status_code == 200
    assert response.data["status"] == "SUCCESS"
    assert response.data["result"]["chunk_count"] == 3
    assert response.data["result"]["source_id"] == source.pk
