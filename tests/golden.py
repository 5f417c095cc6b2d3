"""Golden files: compare with a checked-in file; ``REFRESH_GOLDEN=1`` rewrites it instead."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

REFRESH = os.environ.get("REFRESH_GOLDEN") == "1"


def assert_golden(actual: str, path: Path) -> None:
    if REFRESH:
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run with REFRESH_GOLDEN=1 to create it")
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(path),
                tofile="actual",
            )
        )
        pytest.fail(f"output differs from {path.name} (REFRESH_GOLDEN=1 to accept):\n{diff}")
