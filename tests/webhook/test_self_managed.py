"""``injector serve --self-managed-certs``, the production mode, against the fake API server.

A real server process, the real ``kubernetes`` client over HTTP to ``tests/fakekube.py``:
it creates its CA Secret, fills the caBundle of its MutatingWebhookConfiguration, becomes
ready, serves a certificate that verifies against that caBundle under the Service's DNS
name (what the API server checks), and repairs a caBundle someone clobbered.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.certs.serving import client_context, wait_for
from tests.fakekube import MWCS, SECRETS, FakeKube, webhook_config
from tests.webhook.conftest import hello_pod, review_of

ROOT = Path(__file__).resolve().parents[2]
NS = "mesh-system"
MWC = "sidecar-injector"
SERVICE_NAME = f"sidecar-injector.{NS}.svc"


@dataclass
class Managed:
    kube: FakeKube
    url: str
    process: subprocess.Popen[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: fake, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: fake, user: {}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: fake}}]\n"
        "current-context: fake\n"
    )
    return path


def _ca_bundle(kube: FakeKube) -> bytes | None:
    config = kube.get(MWCS, MWC)
    encoded = config["webhooks"][0]["clientConfig"].get("caBundle") if config else None
    return base64.b64decode(encoded) if encoded else None


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[Managed]:
    with FakeKube() as kube:
        kube.put(MWCS, webhook_config(MWC, ["namespace.sidecar-injector.example.io"]))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env["KUBECONFIG"] = str(_kubeconfig(tmp_path / "kubeconfig", kube.url))
        env.pop("KUBERNETES_SERVICE_HOST", None)
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "injector", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--self-managed-certs", "--namespace", NS, "--drain-seconds", "0",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            yield Managed(kube, f"https://127.0.0.1:{port}", process)
        finally:
            process.terminate()
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err[-2000:]


def _ready(managed: Managed) -> bool:
    bundle = _ca_bundle(managed.kube)
    if bundle is None:
        return False
    try:
        with httpx.Client(verify=client_context(bundle)) as client:
            response = client.get(
                f"{managed.url}/readyz", extensions={"sni_hostname": SERVICE_NAME}
            )
    except httpx.TransportError:
        return False
    return response.status_code == 200


def test_self_managed_serving_end_to_end(managed: Managed) -> None:
    wait_for(lambda: _ready(managed), 30, "the replica to become ready")
    secret = managed.kube.get(SECRETS, "sidecar-injector-ca", NS)
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    bundle = _ca_bundle(managed.kube)
    assert bundle is not None and base64.b64decode(secret["data"]["ca.crt"]) == bundle

    review = review_of(hello_pod())
    with httpx.Client(verify=client_context(bundle)) as client:
        response = client.post(
            f"{managed.url}/inject?timeout=10s",
            json=review,
            extensions={"sni_hostname": SERVICE_NAME},  # verified as the API server does
        )
    with httpx.Client(verify=client_context(bundle)) as fresh:  # a new connection, not a pooled one
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            fresh.get(f"{managed.url}/healthz", extensions={"sni_hostname": "other.example"})
    answer = response.json()["response"]
    assert answer["uid"] == review["request"]["uid"]
    assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"

    clobbered = managed.kube.get(MWCS, MWC)
    assert clobbered is not None
    clobbered["webhooks"][0]["clientConfig"]["caBundle"] = ""  # a re-applied manifest
    managed.kube.put(MWCS, clobbered)
    wait_for(lambda: _ca_bundle(managed.kube) == bundle, 15, "the caBundle to be repaired")
