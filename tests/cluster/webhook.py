"""``injector serve --self-managed-certs`` as a process outside the cluster, reached by URL.

The process authenticates with a token of the shipped ServiceAccount, so every API call it
makes passes through the RBAC of ``manifests/``, and reads its ``--config-dir`` from the
installed ConfigMap, written out key by key as the kubelet mounts it. ``point_webhooks_at``
rewrites the entries of the MutatingWebhookConfiguration from the in-cluster Service to
``https://localhost:PORT`` (keeping their caBundle), which is why the leaf needs
``--extra-dns-name localhost``.
"""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.cluster.controlplane import child_env, free_port
from tests.cluster.harness import MWC, NAMESPACE, ROOT, Cluster

SECRET = "sidecar-injector-ca"
__all__ = ["MWC", "SECRET", "Webhook", "point_webhooks_at"]


def insecure() -> ssl.SSLContext:
    """For polling /readyz before we know the CA; verification is tested on its own."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Webhook:
    """One replica. ``start``/``stop`` may be called again (a restart keeps the port)."""

    cluster: Cluster
    directory: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    namespace: str = NAMESPACE
    webhook_config: str = MWC
    process: subprocess.Popen[str] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log = self.directory / f"webhook-{self.port}.log"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "injector", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), "--config-dir", str(self.config_dir)),
            *("--self-managed-certs", "--namespace", self.namespace),
            *("--webhook-config-name", self.webhook_config),
            *("--extra-dns-name", "localhost", "--extra-ip", "127.0.0.1"),
            *("--drain-seconds", "0", "--shutdown-timeout", "1", "--log-format", "json"),
            *self.extra,
        ]

    @property
    def config_dir(self) -> Path:
        return self.directory / "config"

    def mount_config(self) -> None:
        """The installed ConfigMap ``sidecar-injector`` as files, one per key."""
        data = self.cluster.get("configmap", "sidecar-injector", "-n", self.namespace)["data"]
        self.config_dir.mkdir(exist_ok=True)
        for key, text in data.items():
            (self.config_dir / key).write_text(text)

    def start(self, wait: bool = True) -> None:
        self.mount_config()
        kubeconfig = self.cluster.token_kubeconfig(
            self.directory / "sa.kubeconfig", "sidecar-injector", self.namespace
        )
        env = child_env(KUBECONFIG=str(kubeconfig), PYTHONPATH=str(ROOT))
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"webhook exited {self.process.returncode}:\n{self.tail()}")
            try:
                reply = httpx.get(self.url + "/readyz", verify=insecure(), timeout=2)
                if reply.status_code == 200:
                    return
                last = reply.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise AssertionError(f"webhook not ready after {timeout} s ({last}):\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> float:
        """Signal the process and wait; returns the seconds it took to exit."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        return time.monotonic() - started

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def review(self, body: dict[str, Any], ca_pem: bytes | None = None) -> dict[str, Any]:
        """POST an AdmissionReview to /inject (verifying against ``ca_pem`` when given)."""
        verify = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else insecure()
        reply = httpx.post(self.url + "/inject", json=body, verify=verify, timeout=10)
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()
        return result


def point_webhooks_at(cluster: Cluster, url: str, name: str = MWC) -> None:
    """Every entry of ``name`` calls ``url`` instead of the in-cluster Service."""
    mwc = cluster.get("mutatingwebhookconfiguration", name)
    ops: list[dict[str, Any]] = []
    for i, hook in enumerate(mwc["webhooks"]):
        config = hook["clientConfig"]
        path = (config.get("service") or {}).get("path") or urlsplit(config.get("url", "")).path
        if "service" in config:
            ops.append({"op": "remove", "path": f"/webhooks/{i}/clientConfig/service"})
        target = url + (path or "/inject")
        ops.append({"op": "add", "path": f"/webhooks/{i}/clientConfig/url", "value": target})
    cluster.kubectl(
        "patch", "mutatingwebhookconfiguration", name, "--type=json", "-p", json.dumps(ops)
    )
