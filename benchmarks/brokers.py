"""Broker figure: Redis vs RabbitMQ (classic and quorum queues) for the same tasks, worker and database.

Usage: ``python benchmarks/brokers.py [--quick] [--count 3000] [--latency 200] [--repeat 3]``.
A fresh migrated SQLite database and, per broker, one ``celery -A botsmith worker -c 2`` in a namespace of
its own (a key prefix on Redis, a vhost on RabbitMQ, as the tests use: tests/brokers.py). Per broker:
publish rate (``count`` ``send_task`` calls on one producer; RabbitMQ with publisher confirms, the
default), drain rate of ``count`` ``botsmith.ping`` (first to last ``date_done``, as benchmarks/tasks.py),
and the round trip of one task at a time (publish → result stored in the database → seen by the client),
p50/p95 over ``latency`` tasks. Needs Redis and RabbitMQ on 127.0.0.1 (``rabbitmqctl`` for the vhosts).
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


def publish_and_drain(app, count: int) -> tuple[float, float]:
    from django_celery_results.models import TaskResult

    ids = [uuid.uuid4().hex for _ in range(count)]
    t0 = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for tid in ids:
            app.send_task("botsmith.ping", task_id=tid, producer=producer)
    publish_rate = count / (time.perf_counter() - t0)
    deadline = time.monotonic() + 600
    while TaskResult.objects.filter(task_id__in=ids, status="SUCCESS").count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError("not drained in 600 s")
        time.sleep(0.2)
    done = sorted(TaskResult.objects.filter(task_id__in=ids).values_list("date_done", flat=True))
    return publish_rate, (count - 1) / (done[-1] - done[0]).total_seconds()


def round_trips(app, count: int) -> list[float]:
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        assert app.send_task("botsmith.ping").get(timeout=30, interval=0.005) == "pong"
        times.append(time.perf_counter() - t0)
    return times


def child_main(count: int, latency: int, repeat: int, tmp: Path) -> None:
    c.setup_django()
    from tests import brokers
    from tests.worker import WorkerProcess

    def start_worker(*, env: dict[str, str], wait: bool = False, **kwargs) -> WorkerProcess:
        return WorkerProcess({**os.environ, **env}, tmp, **kwargs).start()

    run = f"botsmith-bench-{uuid.uuid4().hex[:8]}:"
    kinds = {
        "Redis": lambda: brokers.redis_namespace(run, start_worker),
        "RabbitMQ, classic queues": lambda: brokers.rabbitmq_namespace(run, start_worker),
        "RabbitMQ, quorum queues": lambda: brokers.rabbitmq_namespace(run, start_worker, quorum=True),
    }
    rows, figures = [], {}
    for label, make in kinds.items():
        namespace = make()
        try:
            namespace.start_worker(concurrency=2)
            round_trips(namespace.app, 10)  # warm-up: connections, pool children
            publish, drain = [], []
            for _ in range(repeat):
                p, d = publish_and_drain(namespace.app, count)
                publish.append(p)
                drain.append(d)
            trips = sorted(round_trips(namespace.app, latency))
        finally:
            namespace.close()
        p50 = statistics.median(trips) * 1000
        p95 = trips[int(0.95 * (len(trips) - 1))] * 1000
        row = [label, round(statistics.median(publish)), round(statistics.median(drain), 1), round(p50, 1),
               round(p95, 1)]
        print(f"  {row}", flush=True)
        rows.append(row)
        figures[label] = {"publish_per_s": row[1], "drain_per_s": row[2], "round_trip_p50_ms": row[3],
                          "round_trip_p95_ms": row[4]}
    c.print_table(["broker", "publish/s", "drain tasks/s (worker -c 2)", "round trip p50 ms", "p95 ms"], rows)
    redis_drain = figures["Redis"]["drain_per_s"]
    c.print_result(
        "brokers",
        {label: round(f["drain_per_s"] / redis_drain, 2) for label, f in figures.items()},
        brokers=figures,
        count=count,
        repeat=repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 tasks and 50 round trips")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--latency", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.count or (300 if args.quick else 3000)
    latency = args.latency or (50 if args.quick else 200)
    if args.child:
        child_main(count, latency, args.repeat, Path(args.tmp))
        return
    tmp = Path(tempfile.mkdtemp(prefix="botsmith-bench-brokers-"))
    try:
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(tmp / "media"),
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "botsmith.settings",
            "PYTHONUNBUFFERED": "1",
        })
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env,
                       check=True)
        cmd = [sys.executable, __file__, "--child", "--tmp", str(tmp), "--count", str(count), "--latency",
               str(latency), "--repeat", str(args.repeat)]
        sys.exit(subprocess.run(cmd, cwd=c.ROOT, env=env, check=False).returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
