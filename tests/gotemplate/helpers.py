"""Shared paths of the Go template tests."""

from __future__ import annotations

from pathlib import Path

TESTDATA = Path(__file__).parents[1] / "testdata" / "gotemplate"
GO_SIDECAR = TESTDATA / "sidecar.tmpl"
