"""Without Redis, `make run` falls back to kombu's file-system broker; a real worker runs tasks through it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from celery import Celery

from botsmith.celery import ping

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import run_dev


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_runs_tasks_through_the_filesystem_broker(start_worker, tmp_path):
    folders = {"data_folder_in": str(tmp_path / "queue"), "data_folder_out": str(tmp_path / "queue"),
               "processed_folder": str(tmp_path / "processed"), "control_folder": str(tmp_path / "control"),
               "store_processed": False}
    for folder in ("queue", "processed", "control"):
        (tmp_path / folder).mkdir()
    app = Celery("fs", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = folders
    worker = start_worker(env={"CELERY_BROKER_URL": "filesystem://", "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path)},
                          wait=False)
    try:
        worker.wait_ready(app)
        result = app.send_task(ping.name)
        assert result.get(timeout=20) == "pong"
        assert not (Path(__file__).resolve().parents[2] / "control").exists()  # nothing written into the repo
    finally:
        worker.stop()


def test_run_dev_falls_back_to_the_embedded_broker_without_redis(monkeypatch, capsys):
    monkeypatch.setattr(run_dev, "_port_open", lambda host, port: False)
    monkeypatch.setattr(run_dev.shutil, "which", lambda name: None)
    monkeypatch.setattr(run_dev, "_dotenv_has_broker", lambda: False)
    env: dict[str, str] = {}
    commands: dict[str, list[str]] = {}

    run_dev.choose_broker(env, commands)

    assert env["CELERY_BROKER_URL"] == "filesystem://"
    assert "redis" not in commands
    assert capsys.readouterr().out.count("\n") == 1  # says so in one line


def test_run_dev_starts_redis_when_installed_but_not_running(monkeypatch):
    monkeypatch.setattr(run_dev, "_port_open", lambda host, port: False)
    monkeypatch.setattr(run_dev.shutil, "which", lambda name: "/usr/bin/redis-server")
    monkeypatch.setattr(run_dev, "_dotenv_has_broker", lambda: False)
    env: dict[str, str] = {}
    commands: dict[str, list[str]] = {}

    run_dev.choose_broker(env, commands)

    assert commands["redis"][0] == "/usr/bin/redis-server" and "--appendonly" in commands["redis"]
    assert "CELERY_BROKER_URL" not in env
