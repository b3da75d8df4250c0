"""`make run`: web server, worker with beat, and Redis when needed, in the foreground with prefixed logs.

Standard library only, so it works before anything else is installed. Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m"]
RESET = "\033[0m"


def ensure_env_file() -> None:
    """Write a development .env (random secret key, DEBUG on) the first time."""
    env_file = BASE_DIR / ".env"
    if env_file.exists():
        return
    env_file.write_text(
        "# Written by `make run` for local development. Do not use these values in production.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\nDEBUG=true\n"
    )
    print(f"Wrote {env_file} with a random SECRET_KEY and DEBUG=true.")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def choose_broker(env: dict[str, str], commands: dict[str, list[str]]) -> None:
    """Use the configured broker, else local Redis (starting it if installed), else the embedded one."""
    if env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or _dotenv_has_broker():
        return
    if _port_open("127.0.0.1", 6379):
        print("Broker: Redis already running on 127.0.0.1:6379.")
        return
    redis_server = shutil.which("redis-server")
    if redis_server:
        data_dir = BASE_DIR / "var" / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        commands["redis"] = [redis_server, "--bind", "127.0.0.1", "--port", "6379", "--dir", str(data_dir),
                             "--appendonly", "yes", "--save", ""]
        print("Broker: starting Redis on 127.0.0.1:6379 (data in var/redis).")
        return
    env["CELERY_BROKER_URL"] = "filesystem://"
    print("Broker: Redis is not installed; using the embedded file-system broker in var/broker "
          "(development only; install redis-server for the real thing).")


def _dotenv_has_broker() -> bool:
    env_file = BASE_DIR / ".env"
    if not env_file.exists():
        return False
    keys = {line.split("=", 1)[0].strip() for line in env_file.read_text().splitlines() if "=" in line}
    return bool(keys & {"CELERY_BROKER_URL", "REDIS_URL"})


def _pump(name: str, color: str, proc: subprocess.Popen[bytes], width: int) -> None:
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        sys.stdout.write(f"{color}{name.ljust(width)} |{RESET} {line}\n")
        sys.stdout.flush()


def main() -> int:
    ensure_env_file()
    port = os.environ.get("PORT", "8000")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    commands: dict[str, list[str]] = {}
    choose_broker(env, commands)
    commands["web"] = [str(VENV_BIN / "python"), "manage.py", "runserver", f"127.0.0.1:{port}"]
    commands["worker"] = [str(VENV_BIN / "celery"), "-A", "botsmith", "worker", "-B", "--loglevel=INFO",
                          "-s", str(BASE_DIR / "var" / "celerybeat-schedule")]
    width = max(len(n) for n in commands)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for i, (name, cmd) in enumerate(commands.items()):
        procs[name] = subprocess.Popen(  # noqa: S603
            cmd, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        threading.Thread(target=_pump, args=(name, COLORS[i % len(COLORS)], procs[name], width), daemon=True).start()
        if name == "redis":
            time.sleep(0.5)
    print(f"\nBotSmith is starting: API http://127.0.0.1:{port}/api/ - admin http://127.0.0.1:{port}/admin/ "
          f"- health http://127.0.0.1:{port}/api/health/\n"
          "Create an admin user in another terminal: make superuser (or .venv/bin/python manage.py "
          "createsuperuser). Press Ctrl-C to stop everything.\n")

    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exited = ""
    while not stopping.is_set():
        for name, proc in procs.items():
            if proc.poll() is not None:
                exited = name
                stopping.set()
                break
        stopping.wait(0.5)
    if exited:
        print(f"\n{exited} exited with code {procs[exited].returncode}; stopping the others.")
    # Stop the app processes before Redis so the worker can ack its last messages.
    for name in sorted(procs, key=lambda n: n == "redis"):
        proc = procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return 1 if exited else 0


if __name__ == "__main__":
    sys.exit(main())
