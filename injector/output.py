"""Where ``injector inject`` writes: stdout or ``-o PATH``, only once everything succeeded.

Output goes to a spooled temporary file first (memory up to a few MB, then disk), so an error
halfway leaves nothing half-written and memory stays bounded. Then, for ``-o``:

- a regular file (or a new one) is replaced atomically, keeping its permission bits (a new
  file gets the umask's);
- a symlink is followed: its target is written as above and the link stays;
- anything else (a device such as ``/dev/null``, a FIFO) is opened and written through,
  never replaced.

``OSError`` from writing names the user's path, never a temporary file.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from typing import IO

_SPOOL_BYTES = 8 << 20


def spool() -> IO[str]:
    return tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+", encoding="utf-8", newline="")


def deliver(spooled: IO[str], path: str | None) -> None:
    """Copy the finished output to stdout, or to ``path`` as the module describes."""
    spooled.seek(0)
    if path is None:
        shutil.copyfileobj(spooled, sys.stdout)
        sys.stdout.flush()
        return
    try:
        _write(spooled, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None


def _write(spooled: IO[str], path: str) -> None:
    target = os.path.realpath(path)
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            shutil.copyfileobj(spooled, handle)
        return
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            shutil.copyfileobj(spooled, handle)
            os.fchmod(handle.fileno(), stat.S_IMODE(mode) if mode is not None else _new_mode())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _new_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
