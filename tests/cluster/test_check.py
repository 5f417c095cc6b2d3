"""``injector check`` against the real API server: namespace labels and live webhook selectors.

Defect: offline, ``check`` said "yes" for a pod in an unlabelled namespace, which the API
server never sends to the webhook.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cluster.harness import Cluster, deployment, run_check


@pytest.fixture(scope="module")
def manifest(installed: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    installed.namespace("chk-enabled", {"istio-injection": "enabled"})
    installed.namespace("chk-rev", {"istio.io/rev": "default"})
    installed.namespace("chk-plain")
    installed.namespace("chk-disabled", {"istio-injection": "disabled"})
    docs = [
        deployment("enabled", "chk-enabled"),
        deployment("rev", "chk-rev"),
        deployment("plain", "chk-plain"),
        deployment("opted-in", "chk-plain", {"sidecar.istio.io/inject": "true"}),
        deployment("disabled", "chk-disabled"),
        deployment("missing", "chk-missing"),
    ]
    path = tmp_path_factory.mktemp("check") / "app.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _check(manifest: Path, *flags: str, **env: str) -> tuple[dict[str, tuple[str, str]], str]:
    result = run_check(manifest, *flags, **env)
    assert result.returncode == 0, result.stderr
    rows = [line.split(None, 3) for line in result.stdout.splitlines()[1:]]
    return {r[1].removeprefix("Deployment/"): (r[2], r[3]) for r in rows}, result.stderr


def test_with_a_kubeconfig_the_namespace_labels_decide(installed: Cluster, manifest: Path) -> None:
    rows, _ = _check(manifest, "--kubeconfig", str(installed.kubeconfig))
    assert rows["enabled"][0] == "yes"
    assert "sidecar-injector/namespace.sidecar-injector.github.io" in rows["enabled"][1]
    assert rows["rev"][0] == "yes"
    assert "sidecar-injector/rev.namespace.sidecar-injector.github.io" in rows["rev"][1]
    assert rows["opted-in"][0] == "yes"
    assert "object.sidecar-injector.github.io" in rows["opted-in"][1]
    assert rows["plain"] == (
        "no",
        "no webhook entry selects it: namespace chk-plain labels (none), pod labels app=plain",
    )
    assert rows["disabled"][0] == "no"
    assert "istio-injection=disabled" in rows["disabled"][1]
    assert rows["missing"] == ("no", "namespace chk-missing does not exist in the cluster")


def test_kubeconfig_comes_from_the_environment_too(installed: Cluster, manifest: Path) -> None:
    rows, _ = _check(manifest, KUBECONFIG=str(installed.kubeconfig))
    assert rows["plain"][0] == "no"


def test_offline_it_says_namespace_labels_are_unknown(installed: Cluster, manifest: Path) -> None:
    rows, _ = _check(manifest, "--offline", KUBECONFIG=str(installed.kubeconfig))
    assert rows["plain"][0] == "ns?"  # injected if the namespace turns out to be labelled
    assert rows["plain"][1].startswith("namespace chk-plain unknown")
    assert rows["opted-in"][0] == "yes"  # its own label opts it in, wherever it lands


def test_an_unreachable_cluster_is_one_line(
    installed: Cluster, manifest: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text(
        installed.kubeconfig.read_text().replace(installed.plane.url, "https://127.0.0.1:1")
    )
    result = run_check(manifest, "--kubeconfig", str(broken))
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the API server")
    assert "Traceback" not in result.stderr
