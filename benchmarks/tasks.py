"""Figure 4: per-task overhead — send_notification against the no-op ``botsmith.ping``, same worker setup.

Usage: ``python benchmarks/tasks.py [--quick] [--count 10000] [--repeat 3]``.
A fresh migrated SQLite database and a ``celery -A botsmith worker -c 2`` on its own Redis key
prefix (same broker, django-db result backend and prefork pool for both task kinds). Per round,
``count`` tasks are queued, then the drain rate is measured from the stored results: (count - 1)
divided by the time between the first and the last ``date_done``, so publishing and worker
start-up are not counted. The ratio send_notification / ping is the cost of our task body.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def drain_rate(task_name: str, count: int, user_id: int, app) -> float:
    from django_celery_results.models import TaskResult

    ids = [uuid.uuid4().hex for _ in range(count)]
    with app.producer_or_acquire() as producer:
        for i, tid in enumerate(ids):
            if task_name == "ping":
                app.send_task("botsmith.ping", task_id=tid, producer=producer)
            else:
                app.send_task(
                    "notifications.tasks.send_notification",
                    task_id=tid,
                    producer=producer,
                    kwargs={
                        "user_id": user_id,
                        "title": f"Bench {i}",
                        "message": "Your document is ready.",
                        "notification_type": "info",
                    },
                    queue="notifications",
                )
    deadline = time.monotonic() + 600
    while (
        TaskResult.objects.filter(task_id__in=ids[-1:]).count() == 0
        or TaskResult.objects.filter(task_id__in=ids, status="SUCCESS").count() < count
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{task_name}: not drained in 600 s")
        time.sleep(0.2)
    done = sorted(TaskResult.objects.filter(task_id__in=ids).values_list("date_done", flat=True))
    return (count - 1) / (done[-1] - done[0]).total_seconds()


def child_main(count: int, repeat: int, tmp: Path) -> None:
    c.setup_django()
    from django.contrib.auth import get_user_model

    from botsmith.celery import app
    from tests.worker import WorkerProcess

    user = get_user_model().objects.create_user("bench", password="bench-pw-123")
    worker = WorkerProcess(dict(os.environ), tmp, concurrency=2).start()
    rates: dict[str, list[float]] = {"ping": [], "send_notification": []}
    try:
        worker.wait_ready(app, timeout=60)
        for _ in range(repeat):
            for name in rates:  # alternate, so drift (database growth) hits both
                rates[name].append(drain_rate(name, count, user.pk, app))
                print(f"  {name}: {rates[name][-1]:,.0f} tasks/s", flush=True)
    finally:
        worker.stop()
    ping = statistics.median(rates["ping"])
    notify = statistics.median(rates["send_notification"])
    c.print_table(
        ["task", "tasks/s (median)", "ms/task", "runs", "count"],
        [
            ["botsmith.ping (no-op)", round(ping, 1), round(1000 / ping, 2), repeat, count],
            ["send_notification", round(notify, 1), round(1000 / notify, 2), repeat, count],
        ],
    )
    ratio = round(notify / ping, 2)
    c.print_result(
        "tasks",
        {"send_notification_vs_noop": ratio},
        targets={"send_notification>=0.5x": c.verdict(ratio, 0.5)},
        tasks_per_s={"ping": round(ping, 1), "send_notification": round(notify, 1)},
        overhead_ms_per_task=round(1000 / notify - 1000 / ping, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks instead of 10,000")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (1000 if args.quick else 10_000)
    if args.child:
        child_main(count, args.repeat, Path(args.tmp))
        return
    tmp = Path(tempfile.mkdtemp(prefix="botsmith-bench-tasks-"))
    try:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
                "CELERY_BROKER_KEY_PREFIX": f"botsmith-bench-{uuid.uuid4().hex[:10]}:",
                "MEDIA_ROOT": str(tmp / "media"),
                "DEBUG": "false",
                "DJANGO_SETTINGS_MODULE": "botsmith.settings",
                "PYTHONUNBUFFERED": "1",
            }
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env, check=True
        )
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--tmp",
            str(tmp),
            "--count",
            str(count),
            "--repeat",
            str(args.repeat),
        ]
        sys.exit(subprocess.run(cmd, cwd=c.ROOT, env=env, check=False).returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
