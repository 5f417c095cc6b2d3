"""Fixtures for the webhook tests: certificates, review bodies, a real TLS server.

Certificates (``tests.pki``: a CA + leaf for 127.0.0.1/localhost) are made once per
session and never committed. ``running_server`` starts ``injector serve`` as built
by ``server.prepare`` on 127.0.0.1:0 in a background thread.
"""

from __future__ import annotations

import argparse
import copy
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from injector.webhook import server
from tests.pki import Certs, make_certs

TESTDATA = Path(__file__).parent.parent / "testdata" / "webhook"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def load_review(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TESTDATA / name).read_text())
    return data


def apiserver_capture() -> dict[str, Any]:
    """The request kube-apiserver v1.28.7 sent: path, headers, body."""
    return load_review("apiserver-admissionreview.json")


def review_of(
    pod: dict[str, Any],
    *,
    uid: str = "uid-1",
    namespace: str = "default",
    api_version: str = "admission.k8s.io/v1",
    dry_run: bool = False,
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": copy.deepcopy(pod),
            "dryRun": dry_run,
        },
    }


def hello_pod() -> dict[str, Any]:
    pod: dict[str, Any] = load_review("hello-review.json")["request"]["object"]
    return pod


@dataclass
class Running:
    url: str
    ca: Path
    served: server.Served

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=client_context(self.ca), timeout=10, **kwargs)

    def metric(self, name: str) -> float:
        with self.client() as client:
            text = client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"metric {name} not found")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers started as subprocesses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int, cert: Path, key: str | Path, *extra: str) -> list[str]:
    """argv of ``injector serve`` on 127.0.0.1:``port`` with the given serving cert."""
    return [
        *(sys.executable, "-m", "injector", "serve", "--host", "127.0.0.1", "--port", str(port)),
        *("--tls-cert-file", str(cert), "--tls-key-file", str(key), *extra),
    ]


def client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def serve_args(certs: Certs, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    base = ["--host", "127.0.0.1", "--port", "0", "--tls-cert-file", str(certs.cert)]
    return parser.parse_args([*base, "--tls-key-file", str(certs.key), *extra])


@contextmanager
def running_server(certs: Certs, *extra: str) -> Iterator[Running]:
    served = server.prepare(serve_args(certs, *extra))
    served.source.start()
    thread = threading.Thread(target=served.server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not served.server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.listening_port(served.server)
    try:
        yield Running(f"https://127.0.0.1:{port}", certs.ca, served)
    finally:
        served.server.should_exit = True
        thread.join(15)
        served.source.stop()
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture(scope="module")
def live(certs: Certs) -> Iterator[Running]:
    with running_server(certs, "--drain-seconds", "0") as running:
        yield running
