"""A bare kube-apiserver (and its etcd) on loopback, to ask it whether it accepts a pod.

Only what validation needs: token authentication for one ``system:masters`` user, no
authorisation, no ServiceAccount admission (no controller manager creates ``default``).
The binaries come from ``$KUBEBUILDER_ASSETS`` (envtest's layout) and Debian's ``etcd``;
without them the test is skipped with a hint (a failure under SIDECAR_REQUIRE_ROOT_TESTS=1).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REQUIRE_ROOT_ENV
from tests.webhook.conftest import free_port

TOKEN = "hostile-tests-admin"
_NO_PROXY_ENV = {
    k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")
}


def _binaries() -> tuple[str, str]:
    assets = os.environ.get("KUBEBUILDER_ASSETS", "")
    apiserver = Path(assets) / "kube-apiserver" if assets else None
    etcd = shutil.which("etcd")
    if apiserver is None or not apiserver.is_file() or etcd is None:
        hint = "needs KUBEBUILDER_ASSETS (kube-apiserver) and etcd (apt-get install etcd-server)"
        if os.environ.get(REQUIRE_ROOT_ENV) == "1":
            pytest.fail(hint)
        pytest.skip(hint)
    return str(apiserver), etcd


@dataclass(frozen=True)
class ApiServer:
    url: str

    def create_pod(self, pod: dict[str, Any], namespace: str = "default") -> tuple[int, str]:
        """Status and message of a ``dryRun=All`` create of ``pod``."""
        request = urllib.request.Request(
            f"{self.url}/api/v1/namespaces/{namespace}/pods?dryRun=All",
            data=json.dumps(pod).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                return int(response.status), ""
        except urllib.error.HTTPError as error:
            return error.code, str(json.loads(error.read()).get("message", ""))


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's self-signed loopback certificate
    return context


_OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_insecure())
)


@contextmanager
def running_apiserver(directory: Path) -> Iterator[ApiServer]:
    apiserver, etcd = _binaries()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "sa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (directory / "tokens.csv").write_text(f'{TOKEN},admin,1,"system:masters"\n')
    client, peer, port = free_port(), free_port(), free_port()
    with ExitStack() as stack:
        stack.enter_context(_process(directory / "etcd.log", [
            etcd, "--data-dir", str(directory / "etcd"), "--name", "hostile",
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"hostile=http://127.0.0.1:{peer}",
        ]))  # fmt: skip
        stack.enter_context(_process(directory / "apiserver.log", [
            apiserver, "--etcd-servers", f"http://127.0.0.1:{client}",
            "--bind-address", "127.0.0.1", "--secure-port", str(port),
            "--cert-dir", str(directory / "certs"),
            "--token-auth-file", str(directory / "tokens.csv"),
            "--authorization-mode", "AlwaysAllow",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(directory / "sa.pub"),
            "--service-account-signing-key-file", str(directory / "sa.key"),
            "--api-audiences", "https://kubernetes.default.svc",
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--endpoint-reconciler-type", "none",
            "--disable-admission-plugins", "ServiceAccount",
        ]))  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        _wait_ready(url, directory / "apiserver.log")
        yield ApiServer(url)


@contextmanager
def _process(log: Path, argv: list[str]) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=_NO_PROXY_ENV)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    while True:
        try:
            with _OPENER.open(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"kube-apiserver not ready: {log.read_text()[-2000:]}")
        time.sleep(0.5)
