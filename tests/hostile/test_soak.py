"""A bounded soak: normal admissions keep their latency and memory while hostile ones run.

``injector serve`` runs as its own process over TLS on loopback. A background thread keeps
sending what broke the webhook before (alias bombs in ``proxy.istio.io/config``, pods nested
past the JSON limit, huge headers, bodies over the limit, silent and half-sent requests);
meanwhile normal pods, each with its own name, uid and ServiceAccount volume (as the API
server sends them), are admitted one after the other and timed.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile.test_yaml_bombs import bomb
from tests.pki import Certs
from tests.webhook.conftest import client_context, free_port, hello_pod, review_of, serve_command

NORMAL = 150  # admissions per phase
HEADERS = {"Content-Type": "application/json"}


@dataclass
class Server:
    pid: int
    port: int
    ca: Path

    def client(self) -> httpx.Client:
        url = f"https://127.0.0.1:{self.port}"
        return httpx.Client(base_url=url, verify=client_context(self.ca), timeout=10)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def tls_socket(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        context = ssl.create_default_context(cafile=str(self.ca))
        return context.wrap_socket(raw, server_hostname="localhost")


@pytest.fixture(scope="module")
def server(certs: Certs) -> Iterator[Server]:
    port = free_port()
    extra = ("--drain-seconds", "0", "--read-timeout", "2", "--log-level", "error")
    proc = subprocess.Popen(serve_command(port, certs.cert, certs.key, *extra))
    running = Server(proc.pid, port, certs.ca)
    try:
        deadline = time.monotonic() + 30
        with running.client() as client:
            while True:
                with suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        break
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def normal_review(i: int) -> bytes:
    pod = hello_pod()
    pod["metadata"]["name"] = f"hello-5d7f9b8c4-{i:05x}"
    token = f"kube-api-access-{os.urandom(3).hex()[:5]}"
    pod["spec"]["volumes"] = [{"name": token, "projected": {"sources": []}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    ]
    return json.dumps(review_of(pod, uid=f"uid-{i}-{os.urandom(4).hex()}")).encode()


def timed_admissions(server: Server, start: int) -> list[float]:
    times = []
    with server.client() as client:
        for i in range(start, start + NORMAL):
            body = normal_review(i)
            began = time.perf_counter()
            response = client.post("/inject", content=body, headers=HEADERS)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200
            assert response.json()["response"]["allowed"] is True
    return times


def p99(times: list[float]) -> float:
    return sorted(times)[int(len(times) * 0.99) - 1]


def hostile_review(kind: str) -> bytes:
    pod: dict[str, Any] = copy.deepcopy(hello_pod())
    if kind == "bomb":
        pod["metadata"]["annotations"] = {"proxy.istio.io/config": bomb()}
    else:
        nested: Any = "x"
        for _ in range(400):
            nested = [nested]
        pod["spec"]["containers"][0]["args"] = nested
    return json.dumps(review_of(pod)).encode()


def attacks(server: Server) -> tuple[list[Callable[[], None]], ...]:
    """Denied reviews; oversized headers and bodies; half-sent requests."""

    def deny(kind: str) -> Callable[[], None]:
        def send() -> None:
            with server.client() as client:
                response = client.post("/inject", content=hostile_review(kind), headers=HEADERS)
            assert response.status_code == 200 and not response.json()["response"]["allowed"]

        return send

    def raw(payload: bytes, expect: bytes) -> Callable[[], None]:
        def send() -> None:
            with closing(server.tls_socket()) as sock:
                with suppress(OSError):
                    sock.sendall(payload)
                sock.settimeout(10)
                answer = b""
                with suppress(OSError):
                    answer = sock.recv(100)
            assert answer.startswith(expect), answer

        return send

    big_header = b"POST /inject HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (3 << 20)
    big_body = b"POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    big_body += b"Content-Length: %d\r\n\r\n" % (7 << 20) + b"[" * (1 << 20)
    return (
        [deny("bomb"), deny("nested")],
        [raw(big_header, b"HTTP/1.1 431 "), raw(big_body, b"HTTP/1.1 413 ")],
        [raw(b"POST /inject HTTP/1.1\r\nHost: x\r\n", b"HTTP/1.1 408 ")],
    )


def test_normal_admissions_keep_latency_and_memory_under_attack(server: Server) -> None:
    timed_admissions(server, 0)  # warm up
    quiet = timed_admissions(server, NORMAL)
    rss_before = server.rss_mib()

    stop, failures, done = threading.Event(), [], [0]

    def attack(kinds: list[Callable[[], None]]) -> None:
        while not stop.is_set():
            for send in kinds:
                try:
                    send()
                    done[0] += 1
                except Exception as exc:  # reported by the main thread
                    failures.append(repr(exc))

    denies, sizes, slow = attacks(server)  # each group in a thread of its own
    attackers = [threading.Thread(target=attack, args=(kinds,)) for kinds in (denies, sizes, slow)]
    for thread in attackers:
        thread.start()
    try:
        loud = timed_admissions(server, 2 * NORMAL) + timed_admissions(server, 3 * NORMAL)
    finally:
        stop.set()
        for thread in attackers:
            thread.join(30)
    rss_after = server.rss_mib()

    assert not failures, failures[:3]
    assert done[0] >= 30, "the attack barely ran"
    quiet_p99, loud_p99 = p99(quiet), p99(loud)
    assert loud_p99 < 3 * quiet_p99 + 0.2, (quiet_p99, loud_p99)
    assert rss_after - rss_before < 150, (rss_before, rss_after)
