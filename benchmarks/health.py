"""Figure 5: health probe latency under 50 concurrent probes (workers up, then none) and the heartbeat's Redis cost.

Usage: ``python benchmarks/health.py [--quick] [--requests 40] [--concurrency 50]``.
A fresh migrated SQLite database, ``gunicorn botsmith.wsgi`` (2 processes x 25 threads) and, for the
"workers up" round, a real ``celery -A botsmith worker -c 1`` on its own Redis key prefix. Each of the
``concurrency`` client threads sends ``requests`` probes over its own keep-alive connection; the
latency of each request is measured at the client. Throttles are lifted for the run.
The heartbeat cost is counted in process: the Redis commands one worker's heartbeat sends per beat,
times beats per second at the default interval.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(port: int, path: str, concurrency: int, requests: int,
          interval: float | None = None) -> tuple[list[float], dict[int, int]]:
    """``concurrency`` clients each sending ``requests`` probes: back to back (closed loop, the worst case:
    every client always has a request in flight), or one every ``interval`` seconds, as load balancers and
    Kubernetes probe."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(concurrency)

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        mine_codes: list[int] = []
        start.wait()
        # Independent probers are not phase-locked: each starts at its own point of the interval.
        next_at = time.perf_counter() + (random.uniform(0, interval) if interval else 0.0)
        for _ in range(requests):
            if interval:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Host": "localhost"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t0)
            mine_codes.append(response.status)
        conn.close()
        with lock:
            latencies.extend(mine)
            for code in mine_codes:
                codes[code] = codes.get(code, 0) + 1

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, codes


PACED_INTERVAL = 0.5


def plan(args: argparse.Namespace) -> list[tuple[int, int, float | None]]:
    """(clients, probes per client, seconds between a client's probes or None for back to back)."""
    return [(1, 100, None), (args.concurrency, args.requests, None), (args.concurrency, args.requests, PACED_INTERVAL)]


def _pace(interval: float | None) -> str:
    return f"every {interval:g} s" if interval else "closed-loop"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def wait_http(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/health/live/", headers={"Host": "localhost"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def heartbeat_ops_per_beat() -> int:
    """Commands one beat sends (one pipeline), counted by wrapping the pipeline's execute."""
    import redis.client

    from botsmith.celery import app
    from botsmith.telemetry import Telemetry

    counted: list[int] = []
    original = redis.client.Pipeline.execute

    def counting(self, *args, **kwargs):
        counted.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    redis.client.Pipeline.execute = counting  # type: ignore[method-assign]
    try:
        telemetry = Telemetry(app)
        telemetry.beat_worker("bench@host", ["default"], os.getpid(), stale_after=20)
        telemetry.forget_worker("bench@host")
    finally:
        redis.client.Pipeline.execute = original  # type: ignore[method-assign]
    return counted[0]


def child_main(args: argparse.Namespace, tmp: Path) -> None:
    c.setup_django()
    from django.conf import settings

    from botsmith.celery import app
    from botsmith.telemetry import Telemetry
    from tests.worker import WorkerProcess

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "botsmith.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "25",
         "--worker-class", "gthread", "--log-level", "warning"],
        cwd=c.ROOT, env=dict(os.environ), start_new_session=True,
    )
    rows = []
    figures: dict[str, float] = {}
    try:
        wait_http(port)
        worker = WorkerProcess(dict(os.environ), tmp, concurrency=1, extra_args=["-Q", "default"]).start()
        try:
            worker.wait_ready(app, timeout=60)
            telemetry = Telemetry(app)
            while not telemetry.count_live_workers(settings.WORKER_HEARTBEAT_TTL_SECONDS):
                time.sleep(0.1)
            for path in ("/api/health/", "/api/health/live/"):
                probe(port, path, 5, 5)  # warm up both gunicorn processes
                # One client alone shows a probe's own cost; 50 at once add queueing for 2 processes.
                for concurrency, requests, interval in plan(args):
                    lat, codes = probe(port, path, concurrency, requests, interval)
                    rows.append([path, "up", concurrency, _pace(interval), len(lat), round(pct(lat, 0.5), 1),
                                 round(pct(lat, 0.99), 1), codes])
                    figures[f"{path}|up|c{concurrency}|{_pace(interval)}|p99_ms"] = round(pct(lat, 0.99), 1)
        finally:
            worker.stop()
        for concurrency, requests, interval in plan(args):
            lat, codes = probe(port, "/api/health/", concurrency, requests, interval)
            rows.append(["/api/health/", "none", concurrency, _pace(interval), len(lat), round(pct(lat, 0.5), 1),
                         round(pct(lat, 0.99), 1), codes])
            figures[f"/api/health/|none|c{concurrency}|{_pace(interval)}|p99_ms"] = round(pct(lat, 0.99), 1)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
    c.print_table(["probe", "workers", "clients", "pace", "requests", "p50 ms", "p99 ms", "status codes"], rows)
    per_beat = heartbeat_ops_per_beat()
    interval = settings.WORKER_HEARTBEAT_INTERVAL_SECONDS
    print(f"heartbeat: {per_beat} Redis commands per beat (one pipeline) every {interval:g} s "
          f"= {per_beat / interval:.2f} ops/s per worker")
    n = args.concurrency
    targets = {
        f"readiness_p99_{workers}_{pace}<=50ms": c.verdict(
            figures[f"/api/health/|{workers}|c{n}|{pace}|p99_ms"], 50, higher_is_better=False)
        for workers in ("up", "none") for pace in ("closed-loop", f"every {PACED_INTERVAL:g} s")
    }
    c.print_result(
        "health",
        {},
        targets=targets,
        p99_ms=figures,
        p50_ms={f"{r[0]}|{r[1]}|c{r[2]}|{r[3]}": r[5] for r in rows},
        heartbeat_ops_per_s_per_worker=round(per_beat / interval, 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 requests per client instead of 40")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.requests = args.requests or (10 if args.quick else 40)
    if args.child:
        child_main(args, Path(args.tmp))
        return
    tmp = Path(tempfile.mkdtemp(prefix="botsmith-bench-health-"))
    try:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
                "CELERY_BROKER_KEY_PREFIX": f"botsmith-bench-{uuid.uuid4().hex[:10]}:",
                "CACHE_KEY_PREFIX": f"botsmith-bench-cache-{uuid.uuid4().hex[:10]}",
                "MEDIA_ROOT": str(tmp / "media"),
                "DEBUG": "false",
                "ALLOWED_HOSTS": "localhost,127.0.0.1",
                "HEALTH_THROTTLE_RATE": "1000000/min",
                "DJANGO_SETTINGS_MODULE": "botsmith.settings",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env, check=True
        )
        cmd = [sys.executable, __file__, "--child", "--tmp", str(tmp), "--requests", str(args.requests),
               "--concurrency", str(args.concurrency)]
        sys.exit(subprocess.run(cmd, cwd=c.ROOT, env=env, check=False).returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
