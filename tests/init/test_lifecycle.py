"""Rerun, drift, reconcile, cleanup, rollback of a failure after the commit, concurrent runs,
backend equivalence and --run-validation, each in fresh network namespaces, for every backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.init.cases import ISTIO_DIR, OURS_DIR, Case, load_cases
from tests.init.rootutil import INJECTED, istio_lines, save, sidecar_init, sidecar_init_argv
from tests.netns import Netns, netns, pod_and_peer

pytestmark = pytest.mark.root

BACKENDS = ["iptc", "restore", "nft"]
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
FOREIGN_NFT = """table inet kube-thing {
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tudp dport 9 return
\t}
}
"""
RICH = ("-m", "TPROXY", "-b", "*", "-i", "*", "-c", "eth7", "--drop-invalid", "-u", "1337,1338",
        "-o", "5432", "-q", "8443", "--ipv6", "on")  # fmt: skip


@pytest.fixture
def ns() -> Iterator[Netns]:
    with netns() as fresh:
        yield fresh


def _foreign(ns: Netns, backend: str = "restore") -> None:
    if backend == "nft":
        ns.run(["nft", "-f", "-"], input=FOREIGN_NFT)
    else:
        ns.run(["iptables-legacy-restore", "--noflush"], input=FOREIGN)


def _nft(ns: Netns) -> str:
    return re.sub(r"\s*# handle \d+", "", ns.run(["nft", "list", "ruleset"]).stdout)


def _both(ns: Netns, backend: str = "restore") -> str:
    """Everything the backend can have touched: the legacy tables, or the nftables ruleset."""
    if backend == "nft":
        return _nft(ns)
    return save(ns) + save(ns, "ip6tables-legacy-save")


def _ours(ns: Netns, backend: str) -> bool:
    state = _both(ns, backend)
    return "istio-proxy-" in state if backend == "nft" else "ISTIO" in state


def _routing(ns: Netns) -> str:
    return "".join(ns.run(["ip", *f, "rule"]).stdout + ns.run(["ip", *f, "route", "show", "table",
                   "all"]).stdout for f in ([], ["-6"]))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_rerun_is_a_noop(ns: Netns, backend: str) -> None:
    args = (*INJECTED, "--ipv6", "on", "--backend", backend)
    assert sidecar_init(ns, *args).returncode == 0
    before = _both(ns, backend)
    again = sidecar_init(ns, *args)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert _both(ns, backend) == before
    if backend != "nft":
        assert len(istio_lines(save(ns))) == 22


@pytest.mark.parametrize("backend", BACKENDS)
def test_drift_is_reported_and_reconcile_repairs(ns: Netns, backend: str) -> None:
    _foreign(ns, backend)
    assert sidecar_init(ns, *INJECTED, "--ipv6", "off", "--backend", backend).returncode == 0
    changed = (*INJECTED, "-d", "15090", "--ipv6", "off", "--backend", backend)
    drift = sidecar_init(ns, *changed)
    assert drift.returncode == 5
    assert "differ from the planned rules" in drift.stderr and "--reconcile" in drift.stderr
    assert sidecar_init(ns, *changed, "--reconcile").returncode == 0
    with netns() as reference:
        _foreign(reference, backend)
        assert sidecar_init(reference, *changed).returncode == 0
        assert _both(ns, backend) == _both(reference, backend)
    assert "nothing to do" in sidecar_init(ns, *changed).stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_cleanup_only_leaves_exactly_the_foreign_rules(ns: Netns, backend: str) -> None:
    _foreign(ns, backend)
    before = _both(ns, backend)
    assert (
        sidecar_init(
            ns, *INJECTED, *RICH, "--redirect-dns", "--capture-all-dns", "--backend", backend
        ).returncode
        == 0
    )
    assert _ours(ns, backend)
    cleanup = sidecar_init(ns, *INJECTED, *RICH, "--cleanup-only", "--backend", backend)
    assert cleanup.returncode == 0, cleanup.stderr
    assert not _ours(ns, backend)
    assert _both(ns, backend) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_failure_after_the_commit_rolls_everything_back(ns: Netns, backend: str) -> None:
    """The rules of both families commit; then policy routing fails (IPv6 is disabled on lo,
    so ``::6`` cannot be added): the rules and the routes added so far are removed again."""
    _foreign(ns, backend)
    ns.run(["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"])
    before, routes = _both(ns, backend), _routing(ns)
    done = sidecar_init(ns, *INJECTED, *RICH, "--backend", backend)
    assert done.returncode == 4, done.stderr
    assert "policy routing (netlink) failed" in done.stderr
    assert "every change was rolled back" in done.stderr
    assert "Traceback" not in done.stderr
    assert _both(ns, backend) == before
    assert _routing(ns) == routes


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_runs_end_with_one_rule_set_and_truthful_exit_codes(
    ns: Netns, backend: str
) -> None:
    """Serialised on the xtables lock: one run applies, the others find the rules in place."""
    args = (*INJECTED, "--ipv6", "on", "--backend", backend)
    with netns() as reference:
        assert sidecar_init(reference, *args).returncode == 0
        expected = _both(reference, backend)
    runs = [ns.spawn(sidecar_init_argv(*args)) for _ in range(4)]
    results = [(proc.wait(timeout=120), proc.communicate()[1]) for proc in runs]
    assert [code for code, _ in results] == [0] * 4, results
    assert sum("nothing to do" in err for _, err in results) == 3, results
    assert _both(ns, backend) == expected


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
def test_iptables_backends_are_equivalent(case: str) -> None:
    saves = []
    for backend in ("iptc", "restore"):
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
        assert "was not redirected" in bad.stderr and "iptables-save" in bad.stderr


def test_dry_run_touches_nothing(ns: Netns) -> None:
    done = sidecar_init(ns, *INJECTED, "--dry-run", "--ipv6", "on")
    assert done.returncode == 0
    assert done.stdout.count("* nat") == 2
    assert save(ns) == "\n" and save(ns, "iptables-nft-save") == "\n"
    assert _nft(ns) == ""


GOLDEN_CASES = load_cases(ISTIO_DIR) + load_cases(OURS_DIR)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=[c.name for c in GOLDEN_CASES])
def test_backends_are_equivalent_on_every_golden_case(case: Case, tmp_path: Path) -> None:
    """Every rule shape we plan, committed by python-iptables (which builds each extension's
    entry itself) and by iptables-restore, reads back the same; nftables takes it too, and a
    rerun finds it in place. Names this machine cannot resolve (the ``ftp`` group of two Istio
    cases) are refused by all alike (exit 2), before anything is touched."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("".join(f"nameserver {s}\n" for s in (case.dns_v4, case.dns_v6) if s))
    outcomes = []
    for backend in BACKENDS:
        with netns() as fresh:
            argv = [*case.argv(resolv), "--backend", backend]
            done = sidecar_init(fresh, *argv, env=case.env)
            assert done.returncode in (0, 2), done.stderr
            assert _ours(fresh, backend) == (done.returncode == 0)
            if done.returncode == 0:
                again = sidecar_init(fresh, *argv, env=case.env)
                assert "nothing to do" in again.stderr, again.stderr
            outcomes.append((done.returncode, _both(fresh, backend) if backend != "nft" else ""))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == outcomes[2][0]


def test_nft_resolves_user_and_group_names(ns: Netns) -> None:
    """The ruleset names ``root`` (quoted); nft resolves it to 0 when it parses the ruleset."""
    args = ("-u", "root", "-g", "daemon", "-b", "*", "--ipv6", "off", "--backend", "nft")
    done = sidecar_init(ns, *args)
    assert done.returncode == 0, done.stderr
    listing = _nft(ns)
    assert "meta skuid 0 return" in listing and "meta skgid 1 return" in listing
    assert "nothing to do" in sidecar_init(ns, *args).stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_net_admin_it_is_exit_3_naming_the_capability(ns: Netns, backend: str) -> None:
    """A pod spec that drops NET_ADMIN and NET_RAW (root otherwise): the rules cannot even be
    read, so nothing is tried."""
    dropped = ["setpriv", "--bounding-set=-net_admin,-net_raw", "--inh-caps=-net_admin,-net_raw"]
    argv = sidecar_init_argv(*INJECTED, "--ipv6", "off", "--backend", backend)
    done = ns.run([*dropped, *argv], check=False)
    assert done.returncode == 3, done.stderr
    assert "the init container needs the NET_ADMIN and NET_RAW capabilities" in done.stderr
