"""Driving the test cluster: kubectl with the admin kubeconfig, tokens, namespaces, pods."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config

from tests.cluster.controlplane import ControlPlane, child_env, find_binary, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NAMESPACE = "sidecar-injector"  # where manifests/ installs the webhook


MWC = "sidecar-injector"
_WEBHOOK_METRIC = re.compile(
    r'^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{[^}]*name="([^"]+)"'
    r"[^}]*\}\s+(\S+)$"
)


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

    def webhook_totals(self, config: str = MWC) -> tuple[float, float]:
        """(seconds, calls) the server spent calling the entries of ``config`` (its /metrics)."""
        names = {h["name"] for h in self.get("mutatingwebhookconfiguration", config)["webhooks"]}
        seconds = calls = 0.0
        for line in self.plane.get("/metrics").splitlines():
            match = _WEBHOOK_METRIC.match(line)
            if match and match.group(2) in names:
                if match.group(1) == "sum":
                    seconds += float(match.group(3))
                else:
                    calls += float(match.group(3))
        return seconds, calls

    def set_reinvocation(self, policy: str, config: str = MWC) -> None:
        """Set ``reinvocationPolicy`` on every entry of ``config``."""
        hooks = self.get("mutatingwebhookconfiguration", config)["webhooks"]
        ops = [
            {"op": "replace", "path": f"/webhooks/{i}/reinvocationPolicy", "value": policy}
            for i in range(len(hooks))
        ]
        self.kubectl("patch", "mutatingwebhookconfiguration", config, "--type=json",
                     "-p", json.dumps(ops))  # fmt: skip

    def api_client(self) -> Any:
        config: Any = kubernetes.config  # the client is only partly typed
        return config.new_client_from_config(config_file=str(self.kubeconfig))

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


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A fresh control plane (etcd + kube-apiserver), stopped and removed on exit."""
    plane = ControlPlane.start()
    try:
        yield Cluster(plane)
    finally:
        plane.stop()


def run_check(manifest: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``injector check -f MANIFEST FLAGS`` from the repository, with ``env`` added to a
    clean environment (no ``$KUBECONFIG`` unless given)."""
    environment = child_env(PYTHONPATH=str(ROOT), **env)
    if "KUBECONFIG" not in env:
        environment.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "injector", "check", "-f", str(manifest), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def pod_body(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    host_network: bool = False,
) -> dict[str, Any]:
    """A minimal pod, as a user writes it (no labels/annotations keys unless given)."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def create_pod(core: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create through the API server (admission included); the stored pod as JSON."""
    reply = core.create_namespaced_pod(namespace, body, _preload_content=False)
    stored: dict[str, Any] = json.loads(reply.data)
    return stored


def container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod["spec"]
    return [c["name"] for c in spec.get("initContainers") or []] + [
        c["name"] for c in spec["containers"]
    ]


def deployment(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A one-container Deployment; its pods carry ``app: <name>`` plus ``labels``."""
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    }
