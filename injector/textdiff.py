"""``injector inject --diff`` (and ``uninject --diff``): a unified diff built document by document.

Only documents the injection changed are compared (with ``difflib``), so the work grows with
the changes, not quadratically with the file; hunk line numbers are those of the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator


class FileDiff:
    """Collects the changed documents of one file; ``hunks`` yields the diff's lines."""

    def __init__(self, name: str, label: str = "injected") -> None:
        self.name = name
        self.label = label  # what the new side is called: ``name (label)``
        self.old_line = 0  # lines of the file before the current document, old and new
        self.new_line = 0
        self.changed = False

    def document(self, old: str, new: str) -> Iterator[str]:
        """Diff lines for one document (headers first, once per file); advances the lines."""
        old_lines = old.splitlines(keepends=True)
        new_lines = new.splitlines(keepends=True)
        if old != new:
            if not self.changed:
                yield f"--- {self.name}\n"
                yield f"+++ {self.name} ({self.label})\n"
                self.changed = True
            yield from self._hunks(old_lines, new_lines)
        self.old_line += len(old_lines)
        self.new_line += len(new_lines)

    def _hunks(self, old: list[str], new: list[str]) -> Iterator[str]:
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for group in matcher.get_grouped_opcodes(3):
            first, last = group[0], group[-1]
            yield (
                f"@@ -{_range(self.old_line + first[1], last[2] - first[1])} "
                f"+{_range(self.new_line + first[3], last[4] - first[3])} @@\n"
            )
            for tag, i1, i2, j1, j2 in group:
                if tag == "equal":
                    yield from _marked(" ", old[i1:i2])
                    continue
                yield from _marked("-", old[i1:i2])
                yield from _marked("+", new[j1:j2])


def _range(start: int, length: int) -> str:
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def _marked(mark: str, lines: list[str]) -> Iterator[str]:
    for line in lines:
        yield (
            mark + line if line.endswith("\n") else mark + line + "\n\\ No newline at end of file\n"
        )
