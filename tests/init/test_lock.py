"""The xtables lock: held around the whole transaction, waited for, then refused (no root)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from init import lock
from init.errors import ApplyError


@pytest.fixture
def lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "xtables.lock"
    monkeypatch.setenv(lock.ENV, str(path))
    return path


def _held_elsewhere(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_the_lock_is_held_inside_and_released_after(lock_file: Path) -> None:
    with lock.xtables_lock():
        probe = os.open(lock_file, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(probe)
    os.close(_held_elsewhere(lock_file))  # free again


def test_a_held_lock_is_waited_for_then_refused_naming_the_file(lock_file: Path) -> None:
    fd = _held_elsewhere(lock_file)
    try:
        with pytest.raises(ApplyError, match=f"held the xtables lock {lock_file}"):
            with lock.xtables_lock(wait=0.1):
                raise AssertionError("entered while another process held the lock")
    finally:
        os.close(fd)


def test_programs_run_inside_get_a_private_lock_and_the_variable_is_restored(
    lock_file: Path,
) -> None:
    """iptables-restore, run while we hold the lock, would wait for us: it gets its own."""
    with lock.xtables_lock():
        inner = os.environ[lock.ENV]
        assert inner != str(lock_file) and inner.endswith("xtables.lock")
    assert os.environ[lock.ENV] == str(lock_file)


def test_an_unopenable_lock_is_an_apply_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lock.ENV, "/nonexistent/dir/xtables.lock")
    with pytest.raises(ApplyError, match="cannot open the xtables lock"):
        with lock.xtables_lock():
            pass
