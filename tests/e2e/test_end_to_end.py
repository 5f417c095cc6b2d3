"""End to end, no cluster: every component for real, in the order a cluster would use them.

1. ``injector certs generate`` makes a CA and a serving certificate;
2. ``injector serve`` runs over TLS with it (a subprocess);
3. an AdmissionReview of a pod carrying traffic annotations is POSTed, verified against the
   CA, and the returned JSON Patch is applied to the pod;
4. the injected ``istio-init`` arguments, exactly as injected, are run by ``sidecar-init``
   inside a pod network namespace joined to a peer by a veth pair;
5. real connections show the pod's traffic follows the annotations: captured ports land on
   the proxy ports with their original destination, excluded ones do not.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from tests.netns import Topology, landed, pod_and_peer
from tests.webhook.conftest import client_context, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "tests" / "testdata" / "webhook" / "apiserver-admissionreview.json"
APP_UID = 1000
EXCLUDED_CIDR = "10.97.0.1"
REMOTE, EXCLUDED_OUT_PORT, EXCLUDED_IN_PORT = 7070, 7071, 9090
ANNOTATIONS = {
    "traffic.sidecar.istio.io/excludeInboundPorts": str(EXCLUDED_IN_PORT),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": f"{EXCLUDED_CIDR}/32",
    "traffic.sidecar.istio.io/excludeOutboundPorts": str(EXCLUDED_OUT_PORT),
}


def _injector(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "injector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        **kwargs,
    )


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real ``injector serve`` over TLS with certificates from ``injector certs generate``."""
    certs = tmp_path_factory.mktemp("certs")
    made = _injector("certs", "generate", "--out", str(certs))
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "injector", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--tls-cert-file", str(certs / "tls.crt"), "--tls-key-file", str(certs / "tls.key"),
         "--drain-seconds", "0", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (
                    httpx.get(
                        f"{base}/healthz", verify=client_context(certs / "ca.crt")
                    ).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                out, err = server.communicate(timeout=5) if server.poll() is not None else ("", "")
                pytest.fail(f"injector serve did not come up: {err[-2000:]}")
            time.sleep(0.1)
        yield base, certs / "ca.crt"
    finally:
        server.terminate()
        server.communicate(timeout=30)  # waits and closes the pipes


def _admission_review() -> dict[str, Any]:
    review: dict[str, Any] = json.loads(REQUEST.read_text())["body"]
    review = copy.deepcopy(review)
    pod = review["request"]["object"]
    pod["metadata"]["annotations"] = dict(ANNOTATIONS)
    return review


@pytest.fixture(scope="module")
def injected(webhook: tuple[str, Path]) -> dict[str, Any]:
    base, ca = webhook
    review = _admission_review()
    response = httpx.post(
        f"{base}/inject?timeout=10s",
        content=json.dumps(review),
        headers={"Content-Type": "application/json", "User-Agent": "kube-apiserver-admission"},
        verify=client_context(ca),
    )
    assert response.status_code == 200, response.text
    answer = response.json()["response"]
    assert answer["uid"] == review["request"]["uid"]
    assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(answer["patch"]))
    pod: dict[str, Any] = jsonpatch.apply_patch(review["request"]["object"], patch)
    return pod


def _init_args(pod: dict[str, Any]) -> list[str]:
    init = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-init")
    args: list[str] = init["args"]
    return args


@pytest.fixture(scope="module")
def mesh_pod(injected: dict[str, Any]) -> Iterator[Topology]:
    args = _init_args(injected)
    proxy = next(c for c in injected["spec"]["initContainers"] if c["name"] == "istio-proxy")
    proxy_uid = proxy["securityContext"]["runAsUser"]
    with pod_and_peer([f"{EXCLUDED_CIDR}/32"]) as topo:
        environ = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = topo.pod.run([sys.executable, "-m", "init", *args], check=False, env=environ)
        assert done.returncode == 0, done.stderr
        topo.pod.serve("proxy", [15001, 15006], uid=proxy_uid, gid=proxy_uid)
        topo.pod.serve("app", [8080, EXCLUDED_IN_PORT], uid=APP_UID, gid=APP_UID)
        topo.peer.serve("remote", [REMOTE, EXCLUDED_OUT_PORT])
        yield topo


def test_the_injected_init_args_carry_the_annotations(injected: dict[str, Any]) -> None:
    args = _init_args(injected)
    assert args[0] == "istio-iptables"
    flags = dict(zip(args[1::2], args[2::2], strict=False))
    assert flags["-x"] == f"{EXCLUDED_CIDR}/32"
    assert flags["-o"] == str(EXCLUDED_OUT_PORT)
    assert flags["-d"] == f"15090,15021,{EXCLUDED_IN_PORT},15020"


@pytest.mark.root
def test_inbound_to_the_app_port_lands_on_the_inbound_proxy(mesh_pod: Topology) -> None:
    reply = mesh_pod.peer.connect(mesh_pod.pod4, 8080)
    assert landed(reply) == ("proxy", 15006)
    assert reply["orig"] == [mesh_pod.pod4, 8080]


@pytest.mark.root
def test_inbound_to_an_excluded_port_reaches_the_app(mesh_pod: Topology) -> None:
    assert landed(mesh_pod.peer.connect(mesh_pod.pod4, EXCLUDED_IN_PORT)) == (
        "app",
        EXCLUDED_IN_PORT,
    )


@pytest.mark.root
def test_outbound_from_the_app_lands_on_the_outbound_proxy(mesh_pod: Topology) -> None:
    reply = mesh_pod.pod.connect(mesh_pod.peer4, REMOTE, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("proxy", 15001)
    assert reply["orig"] == [mesh_pod.peer4, REMOTE]


@pytest.mark.root
def test_outbound_to_an_excluded_cidr_bypasses_the_proxy(mesh_pod: Topology) -> None:
    assert landed(mesh_pod.pod.connect(EXCLUDED_CIDR, REMOTE, uid=APP_UID, gid=APP_UID)) == (
        "remote",
        REMOTE,
    )


@pytest.mark.root
def test_outbound_to_an_excluded_port_bypasses_the_proxy(mesh_pod: Topology) -> None:
    reply = mesh_pod.pod.connect(mesh_pod.peer4, EXCLUDED_OUT_PORT, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("remote", EXCLUDED_OUT_PORT)


@pytest.mark.root
def test_the_proxy_itself_is_not_captured(mesh_pod: Topology, injected: dict[str, Any]) -> None:
    uid = int(_init_args(injected)[_init_args(injected).index("-u") + 1])
    assert landed(mesh_pod.pod.connect(mesh_pod.peer4, REMOTE, uid=uid, gid=uid)) == (
        "remote",
        REMOTE,
    )
