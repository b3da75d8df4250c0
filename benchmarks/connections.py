"""Figure 5: PostgreSQL connections per process type under the concurrent-upload load.

Usage: ``python benchmarks/connections.py [--quick] [--clients 8] [--files 25] [--no-compare]``.
A fresh PostgreSQL database (``createdb bench_<hex>``; ``BENCH_PG_HOST``/``BENCH_PG_USER``), the
processes ``make run`` starts (``manage.py runserver`` and ``celery -A botsmith worker -B``, the
default concurrency) on Redis under a private key prefix, then ``clients`` users uploading
``files`` small text files each, one per request, all at once, until every source is finished.
``pg_stat_activity`` is sampled every 50 ms; each connection's client port is mapped to its
process (psutil), and its ``application_name`` gives the process type. ``--compare`` (default) runs the web server a
second time with the settings before the pool (``DB_POOL=false CONN_MAX_AGE=60``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
WEB_POOL_MAX = 8  # the DB_POOL_MAX_SIZE default


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sampler(threading.Thread):
    """Peak connections per client process, from pg_stat_activity (its application_name says the
    process type: botsmith-web, botsmith-worker, botsmith-worker-main, botsmith-beat) and the
    local socket table (client port to pid)."""

    def __init__(self, dbname: str) -> None:
        super().__init__(daemon=True)
        self.dbname = dbname
        self.peak_by_pid: dict[int, int] = {}
        self.kind_by_pid: dict[int, str] = {}
        self.peak_by_kind: dict[str, int] = {}
        self.peak_total = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil
        import psycopg

        with psycopg.connect(host=PG_HOST, user=PG_USER, dbname=self.dbname, autocommit=True) as conn:
            own = conn.info.backend_pid
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT client_port, application_name FROM pg_stat_activity WHERE datname = %s AND pid <> %s "
                    "AND backend_type = 'client backend'", [self.dbname, own]).fetchall()
                owners: dict[int, int] = {}
                by_port = _socket_owners(psutil)
                now: dict[str, int] = {}
                for port, name in rows:
                    kind = "benchmark itself" if by_port.get(port) == os.getpid() else name or "?"
                    now[kind] = now.get(kind, 0) + 1
                for kind, count in now.items():
                    self.peak_by_kind[kind] = max(self.peak_by_kind.get(kind, 0), count)
                for port, name in rows:
                    pid = by_port.get(port)
                    if pid:
                        owners[pid] = owners.get(pid, 0) + 1
                        self.kind_by_pid[pid] = "benchmark itself" if pid == os.getpid() else name or "?"
                for pid, count in owners.items():
                    self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), count)
                self.peak_total = max(self.peak_total, len(rows))
                self.stop.wait(0.05)


def _socket_owners(psutil) -> dict[int, int]:
    """Local port to pid. A process forked to start the extraction child holds its parent's
    sockets until exec: the oldest holder is the owner, not the passing fork."""
    holders: dict[int, list[int]] = {}
    for sock in psutil.net_connections("tcp"):
        if sock.laddr and sock.pid:
            holders.setdefault(sock.laddr.port, []).append(sock.pid)

    def started(pid: int) -> float:
        try:
            return psutil.Process(pid).create_time()
        except psutil.Error:
            return float("inf")

    return {port: min(pids, key=started) for port, pids in holders.items()}


def run_load(label: str, web_env: dict[str, str], env: dict[str, str], dbname: str, clients: int, files: int,
             tmp: Path) -> dict:
    import requests
    from rest_framework.authtoken.models import Token

    from botsmith.models import Chatbot
    from sources.models import Source

    users = []
    for n in range(clients):
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user(f"bench-{label[:3]}-{uuid.uuid4().hex[:6]}-{n}", password="x")
        users.append((Token.objects.create(user=user).key, Chatbot.objects.create(owner=user, name=f"bot {n}").pk))
    port = _free_port()
    log = open(tmp / f"{label}.log", "ab")  # noqa: SIM115
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=c.ROOT,
                           env=web_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "botsmith", "worker", "-B",
                               "--loglevel=WARNING", "-s", str(tmp / f"{label}-beat")], cwd=c.ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/api/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        sampler = Sampler(dbname)
        sampler.start()

        def client(n: int) -> list[int]:
            token, chatbot_id = users[n]
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            codes = []
            for i in range(files):
                body = f"{label} client {n} file {i} ".encode() * 40
                r = session.post(f"http://127.0.0.1:{port}/api/chatbots/{chatbot_id}/sources/upload/",
                                 files={"file": (f"f{i}.txt", body, "text/plain")}, timeout=120)
                codes.append(r.status_code)
            return codes

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            codes = [code for codes in pool.map(client, range(clients)) for code in codes]
        upload_s = time.perf_counter() - t0
        chatbots = [chatbot_id for _, chatbot_id in users]
        deadline = time.monotonic() + 600
        while Source.objects.filter(chatbot_id__in=chatbots, status__in=Source.ACTIVE_STATUSES).exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        total_s = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join(5)
        kinds: dict[str, list[int]] = {}
        for pid, peak in sampler.peak_by_pid.items():
            kinds.setdefault(sampler.kind_by_pid[pid], []).append(peak)
        completed = Source.objects.filter(chatbot_id__in=chatbots, status=Source.Status.COMPLETED).count()
        return {
            "label": label, "requests": len(codes), "http_5xx": sum(1 for code in codes if code >= 500),
            "http_202": codes.count(202), "completed": completed, "upload_s": upload_s, "total_s": total_s,
            "peak_total": sampler.peak_total,
            "by_kind": {k: {"max_per_process": max(v), "peak_at_once": sampler.peak_by_kind.get(k, 0)}
                        for k, v in sorted(kinds.items())},
        }
    finally:
        for proc in (web, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _drop_broker_keys(prefix: str) -> None:
    import redis
    from django.conf import settings

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    except (redis.RedisError, ValueError):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--files", type=int, default=25)
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()
    files = max(3, args.files // 5) if args.quick else args.files

    dbname = f"bench_{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp(prefix="botsmith-bench-conn-"))
    subprocess.run(["createdb", "-h", PG_HOST, "-U", PG_USER, dbname], check=True)
    try:
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}/{dbname}",
            "CELERY_BROKER_KEY_PREFIX": f"botsmith-bench-{uuid.uuid4().hex[:10]}:",
            "MEDIA_ROOT": str(tmp / "media"), "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "UPLOAD_THROTTLE_RATE": "100000/min", "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "botsmith.settings",
        })
        for key in ("DB_POOL", "DB_PGBOUNCER", "DB_POOL_MAX_SIZE", "DB_POOL_MIN_SIZE", "CONN_MAX_AGE"):
            env.pop(key, None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env,
                       check=True)
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "MEDIA_ROOT", "CELERY_BROKER_KEY_PREFIX")})
        os.environ["DB_POOL"] = "false"  # this process only seeds users; it keeps one connection
        os.environ["DB_APPLICATION_NAME"] = "benchmark"
        c.setup_django()
        runs = [run_load("pooled", env, env, dbname, args.clients, files, tmp)]
        if not args.no_compare:
            before = {**env, "DB_POOL": "false", "CONN_MAX_AGE": "60"}
            runs.append(run_load("before (no pool, CONN_MAX_AGE=60)", before, env, dbname, args.clients, files, tmp))
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(["dropdb", "-h", PG_HOST, "-U", PG_USER, "--if-exists", "--force", dbname], check=False)
        _drop_broker_keys(env["CELERY_BROKER_KEY_PREFIX"])
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.clients} clients x {files} uploads (one file per request) through `manage.py runserver`, "
          f"worker -B (concurrency {os.cpu_count()}), PostgreSQL; peak connections per process while uploading "
          "and processing\n")
    rows = []
    for run in runs:
        for kind, figures in run["by_kind"].items():
            rows.append([run["label"], kind, figures["max_per_process"], figures["peak_at_once"]])
        rows.append([run["label"], "all", "", run["peak_total"]])
    c.print_table(["web settings", "process type (application_name)", "max connections per process",
                   "peak connections at one moment"], rows)
    print()
    c.print_table(["web settings", "requests", "202", "5xx", "completed", "upload s", "upload+processing s"],
                  [[r["label"], r["requests"], r["http_202"], r["http_5xx"], r["completed"], r["upload_s"],
                    r["total_s"]] for r in runs])
    pooled = runs[0]["by_kind"]
    web_peak = max((v["max_per_process"] for k, v in pooled.items() if k == "botsmith-web"), default=0)
    child_peak = max((v["max_per_process"] for k, v in pooled.items() if k == "botsmith-worker"), default=0)
    beat_peak = max((v["max_per_process"] for k, v in pooled.items() if k == "botsmith-beat"), default=0)
    ratios = {
        "web_connections_per_process": web_peak,
        "worker_child_connections_per_process": child_peak,
        "beat_connections": beat_peak,
        "peak_total": runs[0]["peak_total"],
        "http_5xx": runs[0]["http_5xx"],
    }
    if len(runs) > 1:
        ratios["before_web_connections"] = max(
            (v["max_per_process"] for k, v in runs[1]["by_kind"].items() if k == "botsmith-web"), default=0)
        ratios["before_http_5xx"] = runs[1]["http_5xx"]
    targets = {
        "web <= DB_POOL_MAX_SIZE": c.verdict(web_peak, WEB_POOL_MAX, higher_is_better=False),
        "worker child <= 1": c.verdict(child_peak, 1, higher_is_better=False),
        "beat <= 1": c.verdict(beat_peak, 1, higher_is_better=False),
        "no 5xx": c.verdict(runs[0]["http_5xx"], 0, higher_is_better=False),
    }
    c.print_result("connections", ratios, targets=targets, runs=runs)


if __name__ == "__main__":
    main()
