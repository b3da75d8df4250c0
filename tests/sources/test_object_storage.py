"""Uploads on S3 (a real SeaweedFS): a web process and a worker that share no MEDIA_ROOT, only the bucket.

The web process is the dev server (``manage.py runserver``) and the worker a real ``celery worker``,
both configured by the ``AWS_*`` environment alone; each has its own empty MEDIA_ROOT, so a file the
worker reads can only have come from the bucket.
"""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token
from storages.backends.s3 import S3Storage

from analytics.services.orphan_files import purge_orphan_files
from botsmith.errors import ErrorCode, ProcessingError
from sources.models import Chunk, Source
from sources.services import dispatch
from sources.services.stored_files import local_copy
from tests.factories import ChatbotFactory, UserFactory
from tests.fixtures import documents
from tests.fixtures.s3 import S3Server, s3_server  # noqa: F401 - the session's SeaweedFS
from tests.reliability.postgres import DevServer
from tests.sources.helpers_sources import wait_for_source
from tests.worker import WorkerProcess, isolated_app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@dataclass
class S3Stack:
    s3: S3Server
    location: str
    storage: S3Storage
    web: DevServer
    worker: WorkerProcess
    web_media: Path
    worker_media: Path
    app: object

    def object_keys(self) -> list[str]:
        return self.s3.keys(f"{self.location}/")


@pytest.fixture(scope="module")
def s3_stack(s3_server: S3Server, worker_env, start_worker, tmp_path_factory) -> Iterator[S3Stack]:  # noqa: F811
    location = f"run-{uuid.uuid4().hex[:8]}"
    prefix = f"s3test-{uuid.uuid4().hex[:8]}:"  # a broker prefix of our own: no other worker takes these tasks
    app = isolated_app(prefix)
    web_media, worker_media = tmp_path_factory.mktemp("web-media"), tmp_path_factory.mktemp("worker-media")
    s3_env = {**s3_server.env(location), "CELERY_BROKER_KEY_PREFIX": prefix}
    worker = start_worker(env={**s3_env, "MEDIA_ROOT": str(worker_media)}, wait=False)
    web = DevServer({**worker_env, **s3_env, "MEDIA_ROOT": str(web_media), "ALLOWED_HOSTS": "127.0.0.1",
                     "UPLOAD_THROTTLE_RATE": "100000/min"}, tmp_path_factory.mktemp("web-log")).start()
    try:
        worker.wait_ready(app)
        storage = S3Storage(
            bucket_name=s3_server.bucket, endpoint_url=s3_server.endpoint, access_key=s3_server.access_key,
            secret_key=s3_server.secret_key, region_name="us-east-1", addressing_style="path", location=location,
        )
        yield S3Stack(s3_server, location, storage, web, worker, web_media, worker_media, app)
    finally:
        web.stop()
        worker.stop()
        app.close()


def _session(user) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return session


def _wait_gone(stack: S3Stack, key: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"{stack.location}/{key}" not in stack.object_keys():
            return True
        time.sleep(0.2)
    return False


def test_upload_process_reprocess_and_delete_go_through_the_bucket(s3_stack: S3Stack):
    user = UserFactory()
    chatbot = ChatbotFactory(owner=user)
    http = _session(user)
    pdf = documents.build_pdf([f"Page {n} explains the bucket topic number {n}. " * 6 for n in range(1, 4)])

    response = http.post(f"{s3_stack.web.url}/api/chatbots/{chatbot.pk}/sources/upload/",
                         files={"file": ("guide.pdf", pdf, "application/pdf")}, timeout=60)
    assert response.status_code == 202, response.text
    source = wait_for_source(response.json()["sources"][0]["source_id"], timeout=90)

    assert source.status == "completed", (source.error_code, source.error_message, s3_stack.worker.log_tail())
    assert source.file.name.startswith(f"sources/{chatbot.pk}/")
    assert f"{s3_stack.location}/{source.file.name}" in s3_stack.object_keys()
    stored = s3_stack.s3.client().get_object(Bucket=s3_stack.s3.bucket, Key=f"{s3_stack.location}/{source.file.name}")
    assert stored["Body"].read() == pdf
    # Neither host kept a local copy: the worker read the object from the bucket.
    assert _files_under(s3_stack.web_media) == [] and _files_under(s3_stack.worker_media) == []
    chunks = http.get(f"{s3_stack.web.url}/api/sources/{source.pk}/chunks/", timeout=30).json()["results"]
    assert len(chunks) == source.chunk_count >= 1
    assert all(f"topic number {n}" in " ".join(c["text"] for c in chunks) for n in range(1, 4))

    response = http.post(f"{s3_stack.web.url}/api/sources/{source.pk}/reprocess/", timeout=30)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        again = Source.objects.get(pk=source.pk)
        if again.generation > source.generation and again.status in Source.FINISHED_STATUSES:
            break
        time.sleep(0.2)
    assert (again.status, again.generation) == ("completed", source.generation + 1), s3_stack.worker.log_tail()
    assert Chunk.objects.filter(source=again, is_active=True).count() == again.chunk_count == source.chunk_count

    response = http.delete(f"{s3_stack.web.url}/api/sources/{source.pk}/", timeout=30)
    assert response.status_code == 204, response.text
    assert not Source.objects.filter(pk=source.pk).exists()
    assert _wait_gone(s3_stack, source.file.name), "the deleted source's object is still in the bucket"


def test_a_missing_object_fails_the_source_with_a_clear_code(s3_stack: S3Stack):
    chatbot = ChatbotFactory()
    source = Source(chatbot=chatbot, kind=Source.Kind.FILE, name="gone.txt", original_filename="gone.txt",
                    file_kind="txt", size_bytes=10)
    dispatch.prepare_run(source)
    source.status = Source.Status.PENDING
    source.file.name = f"sources/{chatbot.pk}/{uuid.uuid4().hex}.txt"  # never uploaded
    source.save()

    s3_stack.app.send_task(dispatch.task_name_for(source), kwargs={"source_id": source.pk}, task_id=source.task_id)
    source = wait_for_source(source.pk, timeout=60)

    assert (source.status, source.error_code) == ("failed", ErrorCode.INTERNAL)
    assert "missing from storage" in source.error_message


def test_orphan_sweep_on_the_bucket_keeps_referenced_and_young_objects(s3_stack: S3Stack):
    chatbot = ChatbotFactory()
    storage = s3_stack.storage
    orphan = storage.save(f"sources/{chatbot.pk}/orphan.txt", _content(b"left behind by a crash"))
    referenced = storage.save(f"sources/{chatbot.pk}/kept.txt", _content(b"still used"))
    Source.objects.create(chatbot=chatbot, kind=Source.Kind.FILE, name="kept.txt", file=referenced)

    # Just written: younger than an hour, so nothing goes yet.
    assert purge_orphan_files(now=timezone.now(), dry_run=False, batch_size=10, storage=storage) == 0
    later = timezone.now() + timedelta(hours=2)
    assert purge_orphan_files(now=later, dry_run=True, batch_size=10, storage=storage) == 1
    assert storage.exists(orphan)
    assert purge_orphan_files(now=later, dry_run=False, batch_size=1, storage=storage) == 1

    keys = s3_stack.object_keys()
    assert f"{s3_stack.location}/{orphan}" not in keys and f"{s3_stack.location}/{referenced}" in keys


def test_cleanup_task_on_a_worker_walks_the_bucket(s3_stack: S3Stack):
    chatbot = ChatbotFactory()
    young = s3_stack.storage.save(f"sources/{chatbot.pk}/young-orphan.txt", _content(b"just uploaded"))

    counts = s3_stack.app.send_task("analytics.tasks.cleanup_old_data", kwargs={"days": 30}).get(timeout=60)

    # The worker listed the bucket (an error there would fail the task) and left the young object alone.
    assert counts["files"] == 0
    assert f"{s3_stack.location}/{young}" in s3_stack.object_keys()


def test_the_worker_copy_streams_the_object_in_bounded_memory(s3_stack: S3Stack):
    data = os.urandom(24 * 1024 * 1024)
    name = s3_stack.storage.save("sources/stream/big.bin", _content(data))

    tracemalloc.start()
    try:
        with local_copy(name, storage=s3_stack.storage) as path:
            _, peak = tracemalloc.get_traced_memory()
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    finally:
        tracemalloc.stop()

    assert digest == hashlib.sha256(data).hexdigest()
    # 24 MB went through 1 MB chunks: the Python heap never held more than a few of them.
    assert peak < 6 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while copying 24 MB"
    s3_stack.storage.delete(name)


def test_an_object_larger_than_the_upload_limit_is_refused_not_copied(s3_stack: S3Stack, settings):
    settings.MAX_UPLOAD_SIZE = 1024 * 1024
    name = s3_stack.storage.save("sources/stream/too-big.bin", _content(b"x" * (3 * 1024 * 1024)))

    with pytest.raises(ProcessingError) as caught, local_copy(name, storage=s3_stack.storage):
        pass

    assert caught.value.code == ErrorCode.TOO_LARGE
    s3_stack.storage.delete(name)


def _content(data: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(data)


def _dead_s3_options() -> dict:
    """An S3 endpoint with nothing listening: every call fails at once, as during an outage."""
    from botocore.config import Config

    from tests.fixtures.s3 import free_ports

    return {
        "bucket_name": "nowhere", "endpoint_url": f"http://127.0.0.1:{free_ports(1)[0]}", "access_key": "x",
        "secret_key": "y", "region_name": "us-east-1",
        "client_config": Config(s3={"addressing_style": "path"}, connect_timeout=1, retries={"max_attempts": 1}),
    }


def test_an_upload_while_the_bucket_is_unreachable_answers_503_and_saves_nothing(api_client, chatbot, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": _dead_s3_options()}}
    from tests.sources.helpers_sources import upload

    response = upload(api_client, chatbot.pk, ("notes.txt", b"Some notes worth keeping." * 20))

    assert response.status_code == 503, response.data
    assert response.data["error_code"] == "storage_unavailable" and response["Retry-After"]
    assert not Source.objects.filter(chatbot=chatbot).exists()


def test_a_worker_copy_during_an_outage_is_a_retryable_os_error():
    from sources.services.stored_files import StorageUnavailable

    with pytest.raises(StorageUnavailable) as caught, local_copy("sources/1/a.pdf", storage=S3Storage(
            **_dead_s3_options())):
        pass

    # sources.tasks retries OSErrors with backoff; a ProcessingError would have failed the source for good.
    assert isinstance(caught.value, OSError)


def test_an_object_deleted_after_the_existence_check_fails_as_missing_not_as_an_outage(s3_stack: S3Stack, tmp_path):
    from sources.services.stored_files import copy_to

    with pytest.raises(ProcessingError) as caught, open(tmp_path / "copy", "wb") as out:
        copy_to(s3_stack.storage, f"sources/{uuid.uuid4().hex}.pdf", out)

    assert caught.value.code == ErrorCode.INTERNAL and "missing from storage" in caught.value.message
