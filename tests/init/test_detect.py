"""Backend choice as a table: flags and what the node has in, backend out (no root needed)."""

from __future__ import annotations

import shutil

import pytest

from init import detect
from init.config import RunOptions
from init.errors import BackendUnavailableError

ALL_PROGRAMS = {"nft", "iptables-legacy-restore", "iptables-legacy-save", "iptables-nft-restore",
                "iptables-nft-save", "ip6tables-legacy-restore", "ip6tables-legacy-save",
                "ip6tables-nft-restore", "ip6tables-nft-save"}  # fmt: skip


def _node(monkeypatch: pytest.MonkeyPatch, legacy: bool, programs: set[str]) -> list[int]:
    """A node whose kernel has (or not) the legacy nat table, with ``programs`` on PATH."""
    probes: list[int] = []

    def probe(family: int, table: str = "nat") -> bool:
        probes.append(family)
        return legacy

    monkeypatch.setattr(detect, "legacy_table_available", probe)
    monkeypatch.setattr(shutil, "which", lambda name: name if name in programs else None)
    return probes


@pytest.mark.parametrize(
    ("options", "legacy", "programs", "expected"),
    [
        (RunOptions(), True, ALL_PROGRAMS, "iptables-legacy-restore"),
        (RunOptions(), False, ALL_PROGRAMS, "iptables-nft-restore"),
        (RunOptions(), False, {"nft"}, "nftables"),  # a node image without iptables
        (RunOptions(binary="nft"), True, ALL_PROGRAMS, "iptables-nft-restore"),
        (RunOptions(backend="iptc"), True, ALL_PROGRAMS, "python-iptables"),
        (RunOptions(backend="nft"), True, ALL_PROGRAMS, "nftables"),
        (
            RunOptions(backend="restore", binary="legacy"),
            True,
            ALL_PROGRAMS,
            "iptables-legacy-restore",
        ),
    ],
)
def test_backend_choice(
    monkeypatch: pytest.MonkeyPatch, options: RunOptions, legacy: bool, programs: set[str],
    expected: str,
) -> None:  # fmt: skip
    _node(monkeypatch, legacy, programs)
    assert detect.choose_backend(options, (4, 6)).name == expected


@pytest.mark.parametrize(
    ("options", "legacy", "programs", "message"),
    [
        (RunOptions(binary="legacy"), False, ALL_PROGRAMS, "no legacy iptables nat table"),
        (RunOptions(backend="iptc"), False, ALL_PROGRAMS, "--backend iptc needs"),
        (RunOptions(backend="iptc", binary="nft"), True, ALL_PROGRAMS, "--backend iptc needs"),
        (RunOptions(backend="nft"), True, ALL_PROGRAMS - {"nft"}, "nft not found"),
        (RunOptions(), False, set(), "iptables-nft-save not found"),
    ],
)
def test_unusable_choice_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, options: RunOptions, legacy: bool, programs: set[str],
    message: str,
) -> None:  # fmt: skip
    _node(monkeypatch, legacy, programs)
    with pytest.raises(BackendUnavailableError, match=message):
        detect.choose_backend(options, (4, 6))


def test_the_kernel_is_probed_once_per_family(monkeypatch: pytest.MonkeyPatch) -> None:
    probes = _node(monkeypatch, True, ALL_PROGRAMS)
    detect.choose_backend(RunOptions(), (4, 6))
    assert probes == [4, 6]
