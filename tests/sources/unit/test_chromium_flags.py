"""Chromium's launch flags: the sandbox is only dropped as root, with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

from sources.scraping import chromium


def test_sandbox_stays_on_for_a_non_root_worker(monkeypatch, caplog):
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="sources.scraping.chromium"):
        flags = chromium.chromium_flags(Path("/tmp/profile"), 4321)
    assert "--no-sandbox" not in flags
    assert "--proxy-server=http://127.0.0.1:4321" in flags
    assert not [r for r in caplog.records if "sandbox" in r.getMessage()]


def test_root_worker_runs_without_sandbox_and_warns_once(monkeypatch, caplog):
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 0)
    monkeypatch.setattr(chromium, "_warned_root", chromium.threading.Event())
    with caplog.at_level(logging.WARNING, logger="sources.scraping.chromium"):
        first = chromium.chromium_flags(Path("/tmp/profile"), 4321)
        second = chromium.chromium_flags(Path("/tmp/profile"), 4321)
    assert "--no-sandbox" in first and "--no-sandbox" in second
    warnings = [r for r in caplog.records if "WITHOUT its sandbox" in r.getMessage()]
    assert len(warnings) == 1


def test_service_worker_feature_flag_is_not_relied_on():
    flags = chromium.chromium_flags(Path("/tmp/profile"), 1)
    disabled = next(f for f in flags if f.startswith("--disable-features="))
    assert "ServiceWorker" not in disabled
