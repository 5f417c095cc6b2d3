"""A real Kubernetes control plane on loopback: etcd + kube-apiserver (+ controller manager).

The binaries come from ``KUBEBUILDER_ASSETS`` (controller-runtime envtest's layout, e.g.
``setup-envtest use -p path``); ``etcd`` and ``kubectl`` are taken from there when present,
else from ``PATH`` (Debian: ``apt-get install etcd-server``). ``ControlPlane.start`` makes a
fresh PKI (``cryptography``): a CA, the API server's serving pair, an admin client
certificate (``O=system:masters``) and the ServiceAccount signing key; every process runs in
its own process group with proxies unset, logs to a file in the temporary directory, and is
killed with its group on ``stop``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.pki import CLIENT_AUTH, SERVER_AUTH, key_pem, make_ca

ASSETS_ENV = "KUBEBUILDER_ASSETS"
HINT = (
    f"needs a Kubernetes control plane: set {ASSETS_ENV} to a directory holding kube-apiserver "
    "and kube-controller-manager (`setup-envtest use -p path`), etcd on PATH "
    "(apt-get install etcd-server) and kubectl"
)
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def find_binary(name: str) -> Path | None:
    assets = os.environ.get(ASSETS_ENV)
    if assets and os.access(Path(assets) / name, os.X_OK):
        return Path(assets) / name
    found = shutil.which(name)
    return Path(found) if found else None


def unavailable_reason() -> str | None:
    """None when every binary is there, else the one-line hint."""
    assets = os.environ.get(ASSETS_ENV)
    if not assets or not (Path(assets) / "kube-apiserver").is_file():
        return HINT
    missing = [
        n
        for n in ("kube-apiserver", "kube-controller-manager", "etcd", "kubectl")
        if find_binary(n) is None
    ]
    return f"{HINT} (missing: {', '.join(missing)})" if missing else None


def child_env(**extra: str) -> dict[str, str]:
    """The environment for children: no proxies, loopback in NO_PROXY, no in-cluster hints."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# PKI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """Paths of the generated PKI."""

    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def make_pki(directory: Path) -> Pki:
    ca = make_ca("test-cluster-ca", days=2)
    serving = ca.issue(
        "kube-apiserver",
        SERVER_AUTH,
        dns_names=("localhost", "kubernetes.default.svc"),
        ips=("127.0.0.1", "10.0.0.1"),
    )
    admin = ca.issue("admin", CLIENT_AUTH, organization="system:masters")
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    paths = Pki(
        ca=directory / "ca.crt",
        serving_cert=directory / "srv.crt",
        serving_key=directory / "srv.key",
        admin_cert=directory / "adm.crt",
        admin_key=directory / "adm.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    for path, data in (
        (paths.ca, ca.cert_pem),
        (paths.serving_cert, serving.cert_pem),
        (paths.serving_key, serving.key_pem),
        (paths.admin_cert, admin.cert_pem),
        (paths.admin_key, admin.key_pem),
        (paths.sa_key, key_pem(sa_key)),
        (paths.sa_pub, sa_pub),
    ):
        path.write_bytes(data)
        path.chmod(0o600)
    return paths


def write_kubeconfig(path: Path, server: str, ca: Path, user: dict[str, str]) -> Path:
    """A kubeconfig for ``server`` with one user (client cert/key paths or a ``token``)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "user"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


# processes ---------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        except ProcessLookupError:
            pass


def spawn(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or child_env(),
            start_new_session=True,
        )
    return Process(name, popen, log)


@dataclass
class ControlPlane:
    """etcd + kube-apiserver on loopback; ``start_controller_manager`` adds Deployments."""

    directory: Path
    pki: Pki = field(init=False)
    url: str = field(init=False)
    kubeconfig: Path = field(init=False)
    processes: list[Process] = field(default_factory=list)
    controller_manager: Process | None = None

    @classmethod
    def start(cls) -> ControlPlane:
        plane = cls(Path(tempfile.mkdtemp(prefix="sidecar-cluster-")))
        try:
            plane._start()
        except BaseException:
            plane.stop()
            raise
        return plane

    def _start(self) -> None:
        d = self.directory
        self.pki = make_pki(d)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        etcd = [
            str(find_binary("etcd")), "--name", "test", "--data-dir", str(d / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"test={peer_url}", "--unsafe-no-fsync",
        ]  # fmt: skip
        self.processes.append(spawn("etcd", etcd, d / "etcd.log"))
        p = self.pki
        apiserver = [
            str(find_binary("kube-apiserver")), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", f"--secure-port={api_port}",
            f"--tls-cert-file={p.serving_cert}", f"--tls-private-key-file={p.serving_key}",
            f"--client-ca-file={p.ca}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            "--api-audiences=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none", f"--cert-dir={d / 'apiserver-certs'}",
        ]  # fmt: skip
        self.processes.append(spawn("kube-apiserver", apiserver, d / "kube-apiserver.log"))
        self.url = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = write_kubeconfig(
            d / "admin.kubeconfig",
            self.url,
            p.ca,
            {"client-certificate": str(p.admin_cert), "client-key": str(p.admin_key)},
        )
        self._wait_ready(self.url + "/readyz", timeout=60)

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _opener(self) -> urllib.request.OpenerDirector:
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._ssl())
        )

    def get(self, path: str, timeout: float = 10) -> str:
        """GET ``path`` as admin (``/metrics``, ``/readyz``)."""
        with self._opener().open(self.url + path, timeout=timeout) as response:
            return str(response.read().decode())

    def post(self, path: str, document: Any, timeout: float = 30) -> tuple[int, Any]:
        """POST ``document`` as JSON to ``path`` as admin, unchecked by any client library:
        the status and the decoded reply (a ``Status`` on an error)."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(document).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener().open(request, timeout=timeout) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read())

    def _wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            try:
                if self.get(url.removeprefix(self.url), timeout=2).strip() == "ok":
                    return
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready after {timeout} s ({last})")

    def start_controller_manager(self) -> None:
        if self.controller_manager is not None:
            return
        d, p, kc = self.directory, self.pki, str(self.kubeconfig)
        argv = [
            str(find_binary("kube-controller-manager")), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={p.sa_key}", f"--root-ca-file={p.ca}",
            f"--cert-dir={d / 'kcm-certs'}",
            "--controllers=replicaset,deployment,serviceaccount,serviceaccount-token,"
            "root-ca-cert-publisher,namespace,garbagecollector",
        ]  # fmt: skip
        self.controller_manager = spawn("kube-controller-manager", argv, d / "kcm.log")
        self.processes.append(self.controller_manager)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)
