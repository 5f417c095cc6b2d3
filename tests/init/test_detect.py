"""Backend choice: the legacy nat probe runs once per family at most (no root needed)."""

from __future__ import annotations

import pytest

from init import detect
from init.config import RunOptions
from init.errors import BackendUnavailableError
from init.iptc_backend import IptcBackend


def _record_probes(monkeypatch: pytest.MonkeyPatch, answer: bool) -> list[int]:
    """Replace the kernel probe with one answering ``answer``; the families it was asked."""
    calls: list[int] = []

    def probe(family: int, table: str = "nat") -> bool:
        calls.append(family)
        return answer

    monkeypatch.setattr(detect, "legacy_table_available", probe)
    return calls


def test_default_path_probes_each_family_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_probes(monkeypatch, True)
    backend = detect.choose_backend(RunOptions(), (4, 6))
    assert isinstance(backend, IptcBackend) and backend.name == "python-iptables"
    assert calls == [4, 6]


def test_forced_legacy_without_nat_table_is_refused_after_one_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _record_probes(monkeypatch, False)
    with pytest.raises(BackendUnavailableError, match="no legacy iptables nat table"):
        detect.choose_backend(RunOptions(binary="legacy"), (4,))
    assert calls == [4]
