"""Run Chromium as a child and take its whole process group down with it, or with our own parent.

Started by ``chromium.Browser`` as ``python -I -S chromium_guardian.py <parent pid> <read fd> <write fd> -- argv``
in a new session. PR_SET_PDEATHSIG delivers SIGTERM when the worker process dies (even by SIGKILL),
and the handler SIGKILLs the group: Chromium, its zygotes and renderers. Standard library only.
"""

import ctypes
import fcntl
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _kill_group(*_args: object) -> None:
    os.killpg(0, signal.SIGKILL)


def main() -> None:
    parent, read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
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
