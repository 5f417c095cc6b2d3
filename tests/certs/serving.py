"""Test helpers: a real uvicorn HTTPS server on loopback, TLS clients for it, polling."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from cryptography import x509

from certs.tls import ServingContext

HOST = "127.0.0.1"


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A minimal ASGI app: 200 ``ok`` for every HTTP request."""
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def run_server(holder: ServingContext, app: Any = hello_app) -> Iterator[int]:
    """Serve ``app`` over TLS from ``holder`` on an ephemeral loopback port; yield the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_context_factory=lambda _config, _default: holder.base_context(),  # as `serve`
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during startup"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    """A verifying client context trusting exactly the CAs of ``ca_pem`` (a caBundle)."""
    return ssl.create_default_context(cadata=ca_pem.decode())


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def peer_serial(sock: Any) -> int:
    der = sock.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def https_connection(
    port: int, ctx: ssl.SSLContext, timeout: float = 5
) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(HOST, port, context=ctx, timeout=timeout)


def get(conn: http.client.HTTPSConnection, path: str = "/") -> tuple[int, bytes]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def handshake(port: int, ctx: ssl.SSLContext, server_hostname: str) -> ssl.SSLSocket:
    """A raw TLS connection verifying ``server_hostname`` (the name the apiserver dials)."""
    raw = socket.create_connection((HOST, port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_hostname)
