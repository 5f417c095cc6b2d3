"""Backend choice: the legacy nat probe runs once per family at most, and python-iptables'
workers start before it and never outlive a choice against them (no root needed)."""

from __future__ import annotations

import os

import pytest

from init import detect
from init.config import RunOptions, build_config
from init.errors import BackendUnavailableError
from init.flags import parse_flags
from init.iptc_backend import IptcBackend
from init.plan import Plan, build_plans
from tests.init.rootutil import INJECTED


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


def _children() -> set[int]:
    with open(f"/proc/self/task/{os.getpid()}/children") as listing:
        return {int(pid) for pid in listing.read().split()}


def _plans() -> tuple[Plan, ...]:
    capture, _ = build_config(parse_flags(list(INJECTED[1:]), {}), {}, detect_ipv6=lambda _: False)
    return build_plans(capture)


def test_workers_start_before_the_probe_and_stop_when_it_rules_them_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """python-iptables' workers overlap the probe; on an nf_tables-only kernel they are gone
    (killed and reaped) by the time the restore backend is returned."""
    during: list[set[int]] = []

    def probe(family: int, table: str = "nat") -> bool:
        during.append(_children())
        return False

    monkeypatch.setattr(detect, "legacy_table_available", probe)
    backend = detect.choose_backend(RunOptions(), (4,), _plans())
    assert backend.name == "iptables-nft-restore"
    assert len(during) == 1 and during[0], "no worker was running during the probe"
    assert not _children()


def test_prepared_workers_are_stopped_by_close(monkeypatch: pytest.MonkeyPatch) -> None:
    _record_probes(monkeypatch, True)
    backend = detect.choose_backend(RunOptions(), (4,), _plans())
    assert isinstance(backend, IptcBackend) and len(_children()) == 1
    backend.close()
    assert not _children()


def test_no_worker_when_the_flags_rule_python_iptables_out(monkeypatch: pytest.MonkeyPatch) -> None:
    _record_probes(monkeypatch, True)
    for options in (RunOptions(backend="restore"), RunOptions(binary="nft")):
        backend = detect.choose_backend(options, (4,), _plans())
        assert not isinstance(backend, IptcBackend) and not _children()
