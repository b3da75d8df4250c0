"""PostgreSQL connection modes: a pool for web processes, none in Celery processes, PgBouncer mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
PG_URL = "postgres://u@db.invalid:5432/botsmith"  # never connected to: settings only

_PRINT = (
    "import json, django; django.setup();"
    "from django.conf import settings; from django.db import connections;"
    "import copy, botsmith.db as db; out = {'web': copy.deepcopy(settings.DATABASES['default'])};"
    "db.use_worker_connections(); out['celery'] = dict(connections['default'].settings_dict);"
    "print(json.dumps({k: {'OPTIONS': v['OPTIONS'], 'CONN_MAX_AGE': v['CONN_MAX_AGE'],"
    " 'DISABLE_SERVER_SIDE_CURSORS': v.get('DISABLE_SERVER_SIDE_CURSORS', False)} for k, v in out.items()}))"
)


def _modes(**env: str) -> dict:
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "botsmith.settings", "DATABASE_URL": PG_URL,
            "SECRET_KEY": "x" * 50, **env}
    for key in ("DB_POOL", "DB_PGBOUNCER", "DB_POOL_MAX_SIZE", "DB_POOL_MIN_SIZE", "CONN_MAX_AGE"):
        if key not in env:
            full.pop(key, None)
    out = subprocess.run([sys.executable, "-c", _PRINT], cwd=BASE_DIR, env=full, capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_web_processes_get_a_bounded_pool_and_celery_processes_one_plain_connection():
    modes = _modes(DB_POOL_MAX_SIZE="5", DB_POOL_MIN_SIZE="2", DB_POOL_TIMEOUT="3")

    assert modes["web"]["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 5, "timeout": 3.0}
    assert modes["web"]["CONN_MAX_AGE"] == 0  # with a pool, closing returns the connection to it
    assert "pool" not in modes["celery"]["OPTIONS"]
    assert modes["celery"]["CONN_MAX_AGE"] == 600


def test_pgbouncer_transaction_mode_turns_off_the_pool_cursors_and_prepared_statements():
    modes = _modes(DB_PGBOUNCER="true")

    web = modes["web"]
    assert "pool" not in web["OPTIONS"]
    assert web["OPTIONS"]["prepare_threshold"] is None
    assert web["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert web["CONN_MAX_AGE"] == 0
