"""Rerun, drift, reconcile, cleanup, an injected mid-apply failure, backend equivalence and
--run-validation, each in fresh network namespaces, for both backends where it applies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.init.cases import ISTIO_DIR, OURS_DIR, Case, load_cases
from tests.init.rootutil import INJECTED, istio_lines, save, sidecar_init
from tests.netns import Netns, netns, pod_and_peer

pytestmark = pytest.mark.root

BACKENDS = ["iptc", "restore"]
# Rules another tool owns: they must survive everything we do.
FOREIGN = """*nat
:KUBE_THING - [0:0]
-A OUTPUT -p udp --dport 9 -j RETURN
-A KUBE_THING -j RETURN
-A PREROUTING -j KUBE_THING
COMMIT
*mangle
-A PREROUTING -p udp --dport 9 -j ACCEPT
COMMIT
"""
RICH = ("-m", "TPROXY", "-b", "*", "-i", "*", "-c", "eth7", "--drop-invalid", "-u", "1337,1338",
        "-o", "5432", "-q", "8443", "--ipv6", "on")  # fmt: skip


@pytest.fixture
def ns() -> Iterator[Netns]:
    with netns() as fresh:
        yield fresh


def _foreign(ns: Netns) -> None:
    ns.run(["iptables-legacy-restore", "--noflush"], input=FOREIGN)


def _both(ns: Netns) -> str:
    return save(ns) + save(ns, "ip6tables-legacy-save")


@pytest.mark.parametrize("backend", BACKENDS)
def test_rerun_is_a_noop(ns: Netns, backend: str) -> None:
    args = (*INJECTED, "--ipv6", "on", "--backend", backend)
    assert sidecar_init(ns, *args).returncode == 0
    before = _both(ns)
    again = sidecar_init(ns, *args)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert _both(ns) == before
    assert len(istio_lines(save(ns))) == 22


@pytest.mark.parametrize("backend", BACKENDS)
def test_drift_is_reported_and_reconcile_repairs(ns: Netns, backend: str) -> None:
    _foreign(ns)
    assert sidecar_init(ns, *INJECTED, "--ipv6", "off", "--backend", backend).returncode == 0
    changed = (*INJECTED, "-d", "15090", "--ipv6", "off", "--backend", backend)
    drift = sidecar_init(ns, *changed)
    assert drift.returncode == 5
    assert "DriftError" in drift.stderr and "--reconcile" in drift.stderr
    assert sidecar_init(ns, *changed, "--reconcile").returncode == 0
    with netns() as reference:
        _foreign(reference)
        assert sidecar_init(reference, *changed).returncode == 0
        assert save(ns) == save(reference)
    assert "nothing to do" in sidecar_init(ns, *changed).stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_cleanup_only_leaves_exactly_the_foreign_rules(ns: Netns, backend: str) -> None:
    _foreign(ns)
    before = _both(ns)
    assert (
        sidecar_init(
            ns, *INJECTED, *RICH, "--redirect-dns", "--capture-all-dns", "--backend", backend
        ).returncode
        == 0
    )
    assert istio_lines(save(ns, "iptables-legacy-save"))
    cleanup = sidecar_init(ns, *INJECTED, *RICH, "--cleanup-only", "--backend", backend)
    assert cleanup.returncode == 0, cleanup.stderr
    assert "ISTIO" not in _both(ns)
    assert _both(ns) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_mid_apply_failure_leaves_tables_as_before(ns: Netns, backend: str) -> None:
    """mangle (TPROXY) commits first; nat then fails on a group the system does not know."""
    _foreign(ns)
    before = _both(ns)
    env = {"ISTIO_OUTBOUND_OWNER_GROUPS": "no-such-group-xyz"}
    done = sidecar_init(ns, *INJECTED, *RICH, "--backend", backend, env=env)
    assert done.returncode == 4, done.stderr
    assert "ApplyError" in done.stderr and done.stderr.count("\n") <= 3
    assert _both(ns) == before


CASES = {
    "default": (*INJECTED, "--ipv6", "on"),
    "rich": (*INJECTED, *RICH, "--redirect-dns", "--capture-all-dns"),
    "kube-virt": (
        "-k",
        "eth1,eth2",
        "-i",
        "10.0.0.0/8,2001:db8::/32",
        "-b",
        "80,443",
        "--ipv6",
        "on",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backends_are_equivalent(case: str) -> None:
    saves = []
    for backend in BACKENDS:
        with netns() as fresh:
            done = sidecar_init(fresh, *CASES[case], "--backend", backend)
            assert done.returncode == 0, done.stderr
            saves.append(_both(fresh))
    assert istio_lines(saves[0])
    assert saves[0] == saves[1]


def test_validation_passes_with_rules_and_fails_with_126_without() -> None:
    with pod_and_peer() as topo:
        ok = sidecar_init(topo.pod, *INJECTED, "--run-validation", "--probe-timeout", "3s")
        assert ok.returncode == 0, ok.stderr
        assert "validation passed" in ok.stderr
    with pod_and_peer() as topo:
        bad = sidecar_init(
            topo.pod, *INJECTED, "--skip-rule-apply", "--run-validation", "--probe-timeout", "1s"
        )
        assert bad.returncode == 126
        assert "ValidationFailedError" in bad.stderr and "iptables-save" in bad.stderr


def test_dry_run_touches_nothing(ns: Netns) -> None:
    done = sidecar_init(ns, *INJECTED, "--dry-run", "--ipv6", "on")
    assert done.returncode == 0
    assert done.stdout.count("* nat") == 2
    assert save(ns) == "\n" and save(ns, "iptables-nft-save") == "\n"


GOLDEN_CASES = load_cases(ISTIO_DIR) + load_cases(OURS_DIR)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[c.name for c in GOLDEN_CASES])
def test_backends_are_equivalent_on_every_golden_case(case: Case, tmp_path: Path) -> None:
    """Every rule shape we plan, committed by python-iptables (which builds each extension's
    entry itself) and by iptables-restore, reads back the same. Names this machine cannot
    resolve (the ``ftp`` group of two Istio cases) fail both alike, leaving nothing behind."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("".join(f"nameserver {s}\n" for s in (case.dns_v4, case.dns_v6) if s))
    outcomes = []
    for backend in BACKENDS:
        with netns() as fresh:
            argv = [*case.argv(resolv), "--backend", backend]
            done = sidecar_init(fresh, *argv, env=case.env)
            assert done.returncode in (0, 4), done.stderr
            outcomes.append((done.returncode, _both(fresh)))
    assert outcomes[0] == outcomes[1]
    code, saved = outcomes[0]
    assert bool(istio_lines(saved)) == (code == 0)
