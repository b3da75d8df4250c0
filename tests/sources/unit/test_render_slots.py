"""Browser slot lock files: a private directory, and lock files never followed through a symlink."""

from __future__ import annotations

import os
import stat
import time

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.scraping.render import _Slot


def test_the_slot_directory_is_created_private_and_a_loose_one_is_tightened(tmp_path):
    fresh = tmp_path / "slots"
    slot = _Slot(str(fresh), 2)
    assert slot.acquire(time.monotonic() + 5)
    slot.release()
    assert stat.S_IMODE(os.lstat(fresh).st_mode) == 0o700

    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    other = _Slot(str(loose), 1)
    assert other.acquire(time.monotonic() + 5)
    other.release()
    assert stat.S_IMODE(os.lstat(loose).st_mode) == 0o700


def test_a_symlinked_lock_file_is_never_opened(tmp_path):
    slots = tmp_path / "slots"
    slots.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (slots / "slot-0.lock").symlink_to(victim)

    with pytest.raises(ProcessingError) as caught:
        _Slot(str(slots), 1).acquire(time.monotonic() + 5)
    assert caught.value.code == ErrorCode.RENDERER_UNAVAILABLE
    assert victim.read_bytes() == b"keep"


def test_a_symlinked_slot_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)

    with pytest.raises(ProcessingError) as caught:
        _Slot(str(link), 1).acquire(time.monotonic() + 5)
    assert caught.value.code == ErrorCode.RENDERER_UNAVAILABLE
    assert list(real.iterdir()) == []
