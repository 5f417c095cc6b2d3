"""Fixtures for tests against a real control plane, started once per session.

Every test here is marked ``cluster`` (see ``tests/conftest.py``): without the binaries it
is skipped with a one-line hint, or fails under ``SIDECAR_REQUIRE_ROOT_TESTS=1``.

- ``cluster``: a ``Cluster`` (etcd + kube-apiserver) with an admin kubeconfig and helpers;
- ``controller_manager``: the same cluster with kube-controller-manager running;
- ``installed``: ``kubectl apply -k manifests/`` applied once.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest

from tests.cluster.controlplane import ControlPlane, child_env, find_binary, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NAMESPACE = "sidecar-injector"  # where manifests/ installs the webhook


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


class KubectlError(RuntimeError):
    pass


@dataclass
class Cluster:
    plane: ControlPlane

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with the admin kubeconfig (or ``kubeconfig``)."""
        argv = [str(find_binary("kubectl")), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, env=child_env(), timeout=60
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def token(self, service_account: str, namespace: str, seconds: int = 3600) -> str:
        """A token of ``namespace/service_account`` (``kubectl create token``)."""
        out = self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={seconds}s"
        )
        return out.stdout.strip()

    def token_kubeconfig(self, path: Path, service_account: str, namespace: str) -> Path:
        """A kubeconfig authenticating as that ServiceAccount (its RBAC is the real one)."""
        token = self.token(service_account, namespace)
        return write_kubeconfig(path, self.plane.url, self.plane.pki.ca, {"token": token})

    def api_client(self) -> Any:
        return kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))

    def core(self) -> Any:
        return kubernetes.client.CoreV1Api(self.api_client())

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """Create (or relabel) a namespace with its ``default`` ServiceAccount.

        Without kube-controller-manager nobody creates ``default``, and the ServiceAccount
        admission plugin rejects pods without it.
        """
        docs = [
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": name, "labels": labels or {}}},
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": "default", "namespace": name}},
        ]  # fmt: skip
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=body)
        return name


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    plane = ControlPlane.start()
    try:
        yield Cluster(plane)
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def controller_manager(cluster: Cluster) -> Cluster:
    cluster.plane.start_controller_manager()
    return cluster


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Cluster:
    """The shipped install, applied server-side (the Namespace first, as a user would)."""
    cluster.kubectl("apply", "--server-side", "-k", str(MANIFESTS))
    return cluster
