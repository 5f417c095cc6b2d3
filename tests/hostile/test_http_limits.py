"""Header size/count limits, read timeouts and the connection cap, over real TLS on loopback."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from tests.pki import Certs
from tests.webhook.conftest import Running, hello_pod, review_of, running_server

READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def limited(certs: Certs) -> Iterator[Running]:
    extra = ("--read-timeout", str(READ_TIMEOUT), "--max-connections", "20")
    with running_server(certs, "--drain-seconds", "0", *extra) as running:
        yield running


def connect(live: Running, *, handshake: bool = True) -> socket.socket:
    port = int(live.url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not handshake:
        return raw
    context = ssl.create_default_context(cafile=str(live.ca))
    return context.wrap_socket(raw, server_hostname="localhost")


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, ssl.SSLError):
        pass
    return b"".join(chunks)


def admission_ms(live: Running) -> float:
    body = json.dumps(review_of(hello_pod())).encode()
    start = time.perf_counter()
    with live.client() as client:
        response = client.post(
            "/inject", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
    return (time.perf_counter() - start) * 1000


def test_header_over_one_mib_is_431_without_stalling_others(limited: Running) -> None:
    with closing(connect(limited)) as sock:
        sock.sendall(b"POST /inject HTTP/1.1\r\nHost: x\r\nX-Big: ")
        stop = threading.Event()

        def flood() -> None:
            chunk = b"a" * 65536
            try:
                for _ in range(64):  # 4 MiB, the limit is 1 MiB
                    if stop.is_set():
                        return
                    sock.sendall(chunk)
            except OSError:
                pass

        sender = threading.Thread(target=flood)
        sender.start()
        assert admission_ms(limited) < 1000
        answer = read_all(sock)
        stop.set()
        sender.join(10)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_too_many_headers_is_431(limited: Running) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    with closing(connect(limited)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b"more than 100 request headers" in answer


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # TLS done, then silence
        b"POST /inject HTTP/1.1\r\nHost: x\r\n",  # partial headers
        b"POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{",  # partial body
    ],
    ids=["silent", "partial-headers", "partial-body"],
)
def test_a_slow_or_silent_client_is_cut_off(limited: Running, sent: bytes) -> None:
    with closing(connect(limited)) as sock:
        start = time.monotonic()
        sock.sendall(sent)
        answer = read_all(sock, timeout=READ_TIMEOUT * 10)
        elapsed = time.monotonic() - start
    assert READ_TIMEOUT * 0.8 < elapsed < READ_TIMEOUT * 5
    if b"Content-Length" not in sent:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]


def test_a_slow_request_that_completes_in_time_is_answered(limited: Running) -> None:
    body = json.dumps(review_of(hello_pod())).encode()
    head = b"POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with closing(connect(limited)) as sock:
        sock.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        time.sleep(READ_TIMEOUT / 2)
        sock.sendall(body)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]


def test_connections_over_the_cap_are_closed(limited: Running) -> None:
    held = [connect(limited) for _ in range(20)]
    try:
        with closing(connect(limited, handshake=False)) as extra:
            context = ssl.create_default_context(cafile=str(limited.ca))
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                with context.wrap_socket(extra, server_hostname="localhost") as tls:
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not tls.recv(100):
                        raise ConnectionError("closed")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert admission_ms(limited) < 1000  # below the cap again
