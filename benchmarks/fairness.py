"""Figure 6: scheduling overhead of fair queues — database time to admit one queued source into a free slot.

Usage: ``python benchmarks/fairness.py [--quick] [--sources 2000]``.
A fresh migrated SQLite database; ``sources`` rows are created ``queued`` for one chatbot, then
released one at a time as if each previous run had just finished: ``take()`` (lock the chatbot,
count in flight, pick the oldest queued, move it to ``pending``) plus the finish of the previous
one. Sending to the broker is not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def child_main(count: int) -> None:
    c.setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from botsmith.models import Chatbot
    from sources.models import Source
    from sources.services import fairness

    settings.MAX_SOURCES_IN_FLIGHT_PER_CHATBOT = 1
    user = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:8]}", password="bench-pw-123")
    bot = Chatbot.objects.create(owner=user, name="bench")
    Source.objects.bulk_create(
        [Source(chatbot=bot, kind=Source.Kind.FILE, name=f"{i}.txt", status=Source.Status.QUEUED)
         for i in range(count)]
    )
    t0 = time.perf_counter()
    released = 0
    previous = None
    while True:
        if previous is not None:
            Source.objects.filter(pk=previous).update(status=Source.Status.COMPLETED)
        taken = fairness.take(bot.pk)
        if not taken:
            break
        released += len(taken)
        previous = taken[0].pk
    elapsed = time.perf_counter() - t0
    per_source_ms = elapsed / released * 1000
    c.print_table(["database", "queued sources", "released", "ms per release"],
                  [[settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1], count, released,
                    round(per_source_ms, 3)]])
    c.print_result("fairness", {}, ms_per_release=round(per_source_ms, 3), released=released)
    bot.delete()
    user.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 sources instead of 2,000")
    parser.add_argument("--sources", type=int, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.sources or (300 if args.quick else 2000)
    if args.child:
        child_main(count)
        return
    tmp = Path(tempfile.mkdtemp(prefix="botsmith-bench-fair-"))
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "botsmith.settings", "DEBUG": "false"}
        env.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=c.ROOT, env=env,
                       check=True)
        cmd = [sys.executable, __file__, "--child", "--sources", str(count)]
        sys.exit(subprocess.run(cmd, cwd=c.ROOT, env=env, check=False).returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
