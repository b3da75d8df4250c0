"""Run Chromium as a child and take its whole process group down with it, or with our own parent.

Started by ``chromium.Browser`` as ``python -I -S chromium_guardian.py <parent pid> <read fd> <write fd>
<profile dir> -- argv`` in a new session. PR_SET_PDEATHSIG delivers SIGTERM when the worker process dies
(even by SIGKILL); the handler SIGKILLs the rest of the group (Chromium, its zygotes and renderers),
deletes the browser profile and exits. Standard library only.
"""

import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PROFILE = ""


def _others_in_group() -> list[int]:
    me, group, found = os.getpid(), os.getpgid(0), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                if int(fields[2]) == group and fields[0] != b"Z":
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _kill_group(*_args: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        others = _others_in_group()
        if not others:
            break
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    if PROFILE:
        shutil.rmtree(PROFILE, ignore_errors=True)
    os._exit(0)


def main() -> None:
    global PROFILE
    parent, read_fd, write_fd, PROFILE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    signal.signal(signal.SIGTERM, _kill_group)
    signal.signal(signal.SIGINT, _kill_group)
    signal.signal(signal.SIGHUP, _kill_group)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        _kill_group()
    # Chromium's --remote-debugging-pipe reads commands on fd 3 and writes on fd 4.
    high_read = fcntl.fcntl(read_fd, fcntl.F_DUPFD, 10)
    high_write = fcntl.fcntl(write_fd, fcntl.F_DUPFD, 10)
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)
    for fd in {read_fd, write_fd, high_read, high_write} - {3, 4}:
        os.close(fd)
    argv = sys.argv[sys.argv.index("--") + 1 :]
    child = subprocess.Popen(argv, pass_fds=(3, 4), stdin=subprocess.DEVNULL)  # noqa: S603 - argv built by chromium.py
    os.close(3)
    os.close(4)
    child.wait()
    _kill_group()


if __name__ == "__main__":
    main()
