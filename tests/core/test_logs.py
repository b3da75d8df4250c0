"""LOG_FORMAT=json: one JSON object per line, and every line of a task run carries task, source and chatbot ids."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

import pytest
from django.core.files.base import ContentFile

from botsmith import logs
from sources.models import Source
from tests.sources.helpers_sources import wait_for_source
from tests.worker import isolated_app


def test_json_formatter_writes_the_bound_context_and_the_traceback():
    logs.bind(task_id="t-1", source_id=5, chatbot_id=9)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.LogRecord("sources.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
            record.exc_info = sys.exc_info()
        line = logs.JsonFormatter().format(record)
    finally:
        logs.clear()

    payload = json.loads(line)
    assert payload["message"] == "failed here"
    assert (payload["task_id"], payload["source_id"], payload["chatbot_id"]) == ("t-1", 5, 9)
    assert payload["level"] == "ERROR" and payload["logger"] == "sources.x"
    assert "ValueError: boom" in payload["exc_info"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_every_line_of_a_run_carries_task_source_and_chatbot_ids(start_worker, chatbot):
    prefix = f"logs-{uuid.uuid4().hex}:"
    worker = start_worker(env={"LOG_FORMAT": "json", "CELERY_BROKER_KEY_PREFIX": prefix},
                          extra_args=["-Q", "documents"], wait=False)
    app = isolated_app(prefix)
    try:
        worker.wait_ready(app)
        source = Source.objects.create(
            chatbot=chatbot, kind=Source.Kind.FILE, name="notes.txt", original_filename="notes.txt",
            file=ContentFile(b"Words worth keeping. " * 50, name="notes.txt"), file_kind="txt", size_bytes=1050,
        )
        result = app.send_task("sources.tasks.process_document", kwargs={"source_id": source.pk}, queue="documents")
        assert wait_for_source(source.pk).status == Source.Status.COMPLETED
        deadline = time.monotonic() + 10
        while "ended SUCCESS" not in worker.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()

    lines = [line for line in worker.log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    run = [r for r in records if r.get("task_id") == result.id]
    assert len(run) >= 2, records
    assert all(r.get("source_id") == source.pk and r.get("chatbot_id") == chatbot.pk for r in run), run
    assert {r["message"].split("[")[0] for r in run} >= {"task sources.tasks.process_document"}
    assert any("succeeded" in r["message"] for r in run), run
