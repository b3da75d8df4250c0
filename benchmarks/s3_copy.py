"""Copying a stored upload out of S3 for the extraction child: our streamed copy vs django-storages' S3File.

Starts a throwaway SeaweedFS (the test suite's fixture), stores objects of 24 and 48 MB, and copies
each to a temporary file three ways: ``stored_files.local_copy`` (what the worker runs: response body in
1 MB chunks), ``S3Storage.open()`` with django-storages' default buffer (``AWS_S3_MAX_MEMORY_SIZE=0``:
the whole object in memory), and ``open()`` with our 2 MB spill setting. Prints seconds (median of 3)
and the peak Python heap (tracemalloc) of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import tracemalloc
from collections.abc import Callable
from typing import Any

from _common import MB, machine, print_result, print_table, setup_django, timed

setup_django()

from django.core.files.base import ContentFile  # noqa: E402
from storages.backends.s3 import S3Storage  # noqa: E402

from sources.services.stored_files import local_copy  # noqa: E402
from tests.fixtures.s3 import start_s3_server  # noqa: E402


def _peak(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one 8 MB object")
    sizes = [8] if parser.parse_args().quick else [24, 48]
    server = start_s3_server()
    try:
        common: dict[str, Any] = {
            "bucket_name": server.bucket, "endpoint_url": server.endpoint, "access_key": server.access_key,
            "secret_key": server.secret_key, "region_name": "us-east-1", "addressing_style": "path",
        }
        ours = S3Storage(**common)
        unbounded = S3Storage(**common, max_memory_size=0)
        spilled = S3Storage(**common, max_memory_size=2 * MB)
        rows, ratios = [], {}
        for size in sizes:
            name = ours.save(f"sources/bench/{size}.bin", ContentFile(os.urandom(size * MB)))

            def streamed(name: str = name) -> None:
                with local_copy(name, storage=ours):
                    pass

            def via_open(storage: S3Storage, name: str = name) -> Callable[[], None]:
                def run() -> None:
                    with storage.open(name, "rb") as src, tempfile.NamedTemporaryFile() as tmp:
                        shutil.copyfileobj(src, tmp, MB)
                return run

            for label, fn in [("local_copy (stream, 1 MB chunks)", streamed),
                              ("S3Storage.open, default buffer", via_open(unbounded)),
                              ("S3Storage.open, 2 MB spill", via_open(spilled))]:
                seconds, _ = timed(fn)
                peak = _peak(fn)
                rows.append([f"{size} MB", label, f"{seconds:.2f}", f"{size / seconds:.0f}", f"{peak:.1f}"])
                ratios[f"{size}MB {label} peak_mb"] = round(peak, 1)
            ours.delete(name)
        print(f"Machine: {machine()}")
        print_table(["object", "copy", "seconds", "MB/s", "peak Python heap MB"], rows)
        print_result("s3_copy", ratios)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
