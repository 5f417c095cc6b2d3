"""Where ``injector inject``/``check`` read manifests: files, directories, stdin.

Like ``kubectl apply -f``: ``-f`` may repeat; a directory means its ``.yaml``, ``.yml`` and
``.json`` files (sorted; with ``recursive``, those of its subdirectories too); ``-`` is
stdin. Text is read line by line, so a file is never held in memory whole, and must be UTF-8
(a byte order mark is dropped); line endings are kept as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from injector.errors import ManifestError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Source:
    name: str  # as the user wrote it (or the path found under their directory); "-" is stdin

    @property
    def is_stdin(self) -> bool:
        return self.name == "-"

    def lines(self) -> Iterator[str]:
        """The text's lines, line endings included; ``ManifestError`` if it is not UTF-8."""
        if self.is_stdin:
            yield from _decoded(sys.stdin.buffer, "stdin")
            return
        with open(self.name, "rb") as handle:
            yield from _decoded(handle, self.name)


def expand(names: Sequence[str], *, recursive: bool) -> list[Source]:
    """The sources ``-f`` names; ``ManifestError`` for a directory with no manifests."""
    sources: list[Source] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(
                p for p in path.glob(pattern) if p.suffix in MANIFEST_SUFFIXES and p.is_file()
            )
            if not found:
                raise ManifestError(f"{name}: no .yaml, .yml or .json files in this directory")
            sources.extend(Source(str(p)) for p in found)
        else:
            sources.append(Source(name))
    if sum(s.is_stdin for s in sources) > 1:
        raise ManifestError("-f - (stdin) can be given only once")
    return sources


def _decoded(handle: BinaryIO, name: str) -> Iterator[str]:
    offset = 0
    for number, raw in enumerate(_raw_lines(handle, name), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"{name}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {number} "
                f"(offset {offset + exc.start})"
            ) from None
        if number == 1:
            line = line.removeprefix("\ufeff")
        offset += len(raw)
        yield line


def _raw_lines(handle: BinaryIO, name: str) -> Iterator[bytes]:
    """The lines of ``handle``, read in bounded chunks: a NUL byte (never in YAML or JSON) is
    an error as soon as it is read, so ``-f /dev/zero`` or a binary file without line breaks
    cannot fill memory with one endless line first."""
    offset = 0
    number = 1
    parts: list[bytes] = []
    while chunk := handle.readline(_CHUNK):
        if (nul := chunk.find(b"\0")) >= 0:
            raise ManifestError(
                f"{name}: not text: a NUL byte at line {number} (offset {offset + nul})"
            )
        offset += len(chunk)
        if not chunk.endswith(b"\n"):
            parts.append(chunk)
            continue
        yield b"".join(parts) + chunk if parts else chunk
        parts = []
        number += 1
    if parts:
        yield b"".join(parts)


_CHUNK = 64 * 1024
