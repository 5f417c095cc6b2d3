"""The xtables lock: one ``flock`` on ``/run/xtables.lock``, held around a whole transaction.

``iptables -w`` and ``iptables-restore`` take this lock for each call; ``sidecar-init`` holds it
from reading the tables to the end of a rollback, so concurrent runs (and other iptables users)
never interleave between its compare and its apply. ``$XTABLES_LOCKFILE`` names another file,
as it does for iptables. While the lock is held, the iptables programs we run are pointed at a
private lock file through ``$XTABLES_LOCKFILE`` in our environment: they would otherwise wait
for us.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator

from init.errors import ApplyError

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/run/xtables.lock"
WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.02
ENV = "XTABLES_LOCKFILE"


def lock_path() -> str:
    return os.environ.get(ENV) or DEFAULT_PATH


@contextlib.contextmanager
def xtables_lock(wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the xtables lock (waiting up to ``wait`` seconds for it) for the ``with`` body."""
    path = lock_path()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ApplyError(f"cannot open the xtables lock {path}: {exc.strerror}") from exc
    try:
        _acquire(fd, path, wait)
        with tempfile.TemporaryDirectory(prefix="sidecar-init-") as private:
            before = os.environ.get(ENV)
            os.environ[ENV] = os.path.join(private, "xtables.lock")
            try:
                yield
            finally:
                if before is None:
                    del os.environ[ENV]
                else:
                    os.environ[ENV] = before
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    logged = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ApplyError(
                    f"another process held the xtables lock {path} for {wait:g}s"
                ) from None
            if not logged:
                logger.info("waiting for the xtables lock %s", path)
                logged = True
            time.sleep(_POLL_SECONDS)
