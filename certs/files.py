"""Writing certificate and key files so that no reader ever sees a mix of old and new.

``write_all`` stages every file as a new temporary file in its target's directory (created
with its final mode, so a key is never readable by others, even for a moment), flushes it to
disk, and only when all are staged renames each over its target. So:

- a target that is a symlink is replaced by a file; what it pointed to is left alone (a key
  is never written through a link someone else may have planted);
- a process that has the old file open keeps reading the old bytes, never a torn or a new key;
- if staging fails (disk full, permission denied), no target has changed, and no temporary
  file is left behind. A rename can still fail part-way (a target that is a directory): the
  error names that target, and the files renamed before it are the new ones.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from certs.errors import CertError


@dataclass(frozen=True)
class File:
    path: Path
    data: bytes
    mode: int


def existing(paths: Iterable[Path]) -> list[Path]:
    """The ``paths`` that are present, counting symlinks whose target is gone."""
    return [path for path in paths if os.path.lexists(path)]


def write_all(files: Iterable[File]) -> None:
    """Replace each ``File.path`` by its ``data`` with ``mode`` (see the module docstring)."""
    staged: list[tuple[str, File]] = []
    try:
        for file in files:
            staged.append((_stage(file), file))
        for temp, file in staged:
            try:
                os.replace(temp, file.path)
            except OSError as exc:
                raise CertError(f"cannot replace {file.path}: {exc.strerror}") from None
        for directory in {file.path.parent for _, file in staged}:
            _sync_directory(directory)
    finally:
        for temp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _stage(file: File) -> str:
    """A new file beside ``file.path`` holding its data, flushed; its name."""
    try:
        fd, temp = tempfile.mkstemp(dir=file.path.parent, prefix=f".{file.path.name}.")
    except OSError as exc:
        raise CertError(f"cannot write {file.path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, file.mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(file.data)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        os.unlink(temp)
        raise CertError(f"cannot write {file.path}: {exc.strerror}") from None
    return temp


def _sync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable (best effort: not every filesystem can)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
