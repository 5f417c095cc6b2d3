"""``injector inject --namespace-annotation``: OpenShift UID ranges without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from injector.cli import main
from tests.injector.helpers import OURS

UID_RANGE = "openshift.io/sa.scc.uid-range=1000620000/10000"
GROUPS = "openshift.io/sa.scc.supplemental-groups=5000/100"


def _injected(tmp_path: Path, *flags: str) -> dict[str, Any]:
    out = tmp_path / "out.yaml"
    assert main(["inject", "-f", str(OURS / "pod-bare.yaml"), "-o", str(out), *flags]) == 0
    pod: dict[str, Any] = yaml.safe_load(out.read_text())
    return pod


def _ids(pod: dict[str, Any]) -> tuple[int, int, str]:
    spec = pod["spec"]
    proxy = next(c for c in spec["initContainers"] if c["name"] == "istio-proxy")
    init = next(c for c in spec["initContainers"] if c["name"] == "istio-init")
    uid_arg = init["args"][init["args"].index("-u") + 1]
    context = proxy["securityContext"]
    return context["runAsUser"], context["runAsGroup"], uid_arg


@pytest.fixture(autouse=True)
def _no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)


def test_the_uid_range_sets_the_proxy_ids(tmp_path: Path) -> None:
    assert _ids(_injected(tmp_path)) == (1337, 1337, "1337")
    pod = _injected(tmp_path, "--namespace-annotation", UID_RANGE)
    assert _ids(pod) == (1000629999, 1000629999, "1000629999")
    pod = _injected(tmp_path, "--namespace-annotation", UID_RANGE, "--namespace-annotation", GROUPS)
    assert _ids(pod) == (1000629999, 5099, "1000629999")


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        # other keys and missing values
        ("openshift.io/sa.scc.uid-range", "openshift.io/sa.scc.uid-range"),
        ("team=a", "openshift.io/sa.scc.uid-range"),
        ("openshift.io/sa.scc.uid=1/2", "openshift.io/sa.scc.uid-range"),
        # a range we cannot read: a usage error, not silently 1337
        ("openshift.io/sa.scc.uid-range=x", "expected START/SIZE"),
        ("openshift.io/sa.scc.uid-range=1000/0", "expected START/SIZE"),
        ("openshift.io/sa.scc.uid-range=2147483640/9", "expected START/SIZE"),
        ("openshift.io/sa.scc.supplemental-groups=1000/10,x", "expected START/SIZE"),
    ],
)
def test_a_flag_we_cannot_use_is_a_usage_error(
    flag: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["inject", "-f", str(OURS / "pod-bare.yaml"), "--namespace-annotation", flag])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_empty_value_still_clears_the_clusters_range(tmp_path: Path) -> None:
    pod = _injected(tmp_path, "--namespace-annotation", "openshift.io/sa.scc.uid-range=")
    assert _ids(pod) == (1337, 1337, "1337")
