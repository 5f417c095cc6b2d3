"""ServingContext and CertFileWatcher against a real uvicorn HTTPS server on loopback."""

from __future__ import annotations

import os
import ssl
import threading
import time
import warnings
from datetime import timedelta
from pathlib import Path

import pytest

from certs import generate
from certs.errors import InvalidCertificateError
from certs.generate import CertKeyPair
from certs.tls import CertFileWatcher, ServingContext
from tests.certs.conftest import NAMESPACE, SERVICE, LeafFactory
from tests.certs.serving import (
    client_context,
    get,
    handshake,
    https_connection,
    peer_serial,
    run_server,
)


def loaded(leaf: CertKeyPair) -> ServingContext:
    holder = ServingContext()
    holder.load_pem(leaf.cert_pem, leaf.key_pem)
    return holder


def test_swap_new_connection_sees_new_serial_keepalive_survives(
    ca: CertKeyPair, make_leaf: LeafFactory
) -> None:
    first, second = make_leaf(), make_leaf()
    holder = loaded(first)
    ctx = client_context(ca.cert_pem)
    with run_server(holder) as port:
        kept = https_connection(port, ctx)
        assert get(kept) == (200, b"ok")
        kept_sock = kept.sock
        assert peer_serial(kept_sock) == first.cert.serial_number

        info = holder.load_pem(second.cert_pem, second.key_pem)
        assert info.serial == second.cert.serial_number == holder.info.serial  # type: ignore[union-attr]

        assert get(kept) == (200, b"ok")
        assert kept.sock is kept_sock, "the keep-alive connection was dropped"
        assert peer_serial(kept.sock) == first.cert.serial_number
        fresh = https_connection(port, ctx)
        assert get(fresh) == (200, b"ok")
        assert peer_serial(fresh.sock) == second.cert.serial_number
        kept.close()
        fresh.close()


def test_hostname_the_apiserver_dials_verifies(ca: CertKeyPair, make_leaf: LeafFactory) -> None:
    holder = loaded(make_leaf())
    with run_server(holder) as port:
        tls = handshake(port, client_context(ca.cert_pem), f"{SERVICE}.{NAMESPACE}.svc")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.close()
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            handshake(port, client_context(ca.cert_pem), "other.mesh-system.svc")


@pytest.mark.parametrize("bad", ["mismatched-key", "garbage", "expired", "empty-key"])
def test_failed_load_keeps_serving_old_certificate(
    bad: str, ca: CertKeyPair, make_leaf: LeafFactory
) -> None:
    good = make_leaf()
    holder = loaded(good)
    other = make_leaf()
    past = generate.utcnow() - timedelta(days=3)
    old_ca = generate.make_ca(past, timedelta(days=30))
    expired = generate.make_leaf(old_ca, past, timedelta(days=1), ["x.svc"])
    cert_pem, key_pem = {
        "mismatched-key": (other.cert_pem, good.key_pem),
        "garbage": (b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", b"junk"),
        "expired": (expired.cert_pem, expired.key_pem),
        "empty-key": (other.cert_pem, b""),
    }[bad]
    with run_server(holder) as port:
        with pytest.raises(InvalidCertificateError) as err:
            holder.load_pem(cert_pem, key_pem)
        assert str(err.value)
        assert holder.info is not None and holder.info.serial == good.cert.serial_number
        conn = https_connection(port, client_context(ca.cert_pem))
        assert get(conn) == (200, b"ok")
        assert peer_serial(conn.sock) == good.cert.serial_number
        conn.close()


def test_tls11_client_refused_tls12_accepted(ca: CertKeyPair, make_leaf: LeafFactory) -> None:
    holder = loaded(make_leaf())
    with run_server(holder) as port:
        old = client_context(ca.cert_pem)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer TLS 1.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is the point here
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError) as err:
            handshake(port, old, "localhost")
        assert "NO_PROTOCOLS_AVAILABLE" not in str(err.value), "client never offered TLS 1.1"

        tls12 = client_context(ca.cert_pem)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        sock = handshake(port, tls12, "localhost")
        assert sock.version() == "TLSv1.2"
        sock.close()


def test_no_certificate_yet_fails_handshake_cleanly(ca: CertKeyPair) -> None:
    holder = ServingContext()
    assert holder.info is None
    with run_server(holder) as port:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(port, client_context(ca.cert_pem), "localhost")


def test_swaps_under_continuous_load_fail_no_request(
    ca: CertKeyPair, make_leaf: LeafFactory
) -> None:
    leaves = [make_leaf() for _ in range(5)]
    holder = loaded(leaves[0])
    ctx = client_context(ca.cert_pem)
    stop = threading.Event()
    failures: list[str] = []
    counts = {"requests": 0}
    seen: set[int] = set()
    lock = threading.Lock()

    def client(keep_alive: bool, port: int) -> None:
        conn = https_connection(port, ctx)
        while not stop.is_set():
            try:
                if not keep_alive:
                    conn.close()
                    conn = https_connection(port, ctx)
                status, body = get(conn)
                serial = peer_serial(conn.sock)
                if (status, body) != (200, b"ok"):
                    raise AssertionError(f"bad reply {status} {body!r}")
            except Exception as exc:
                with lock:
                    failures.append(repr(exc))
                conn.close()
                conn = https_connection(port, ctx)
                continue
            with lock:
                counts["requests"] += 1
                seen.add(serial)
        conn.close()

    with run_server(holder) as port:
        threads = [
            threading.Thread(target=client, args=(i % 2 == 0, port), daemon=True) for i in range(6)
        ]
        for t in threads:
            t.start()
        swaps = 0
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            leaf = leaves[swaps % len(leaves)]
            holder.load_pem(leaf.cert_pem, leaf.key_pem)
            swaps += 1
            time.sleep(0.03)
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == []
    assert swaps >= 30
    assert counts["requests"] > 100
    assert len(seen) >= 3, "fresh connections should have seen several serials"


def test_file_watcher_follows_kubelet_symlink_swap_and_keeps_last_good(
    tmp_path: Path, ca: CertKeyPair, make_leaf: LeafFactory
) -> None:
    first, second = make_leaf(), make_leaf()

    def publish(version: str, cert_pem: bytes, key_pem: bytes) -> None:
        """What the kubelet does: write a new dir, then atomically repoint ``..data``."""
        data = tmp_path / version
        data.mkdir()
        (data / "tls.crt").write_bytes(cert_pem)
        (data / "tls.key").write_bytes(key_pem)
        tmp_link = tmp_path / "..data_tmp"
        tmp_link.symlink_to(version)
        os.replace(tmp_link, tmp_path / "..data")

    publish("v1", first.cert_pem, first.key_pem)
    (tmp_path / "tls.crt").symlink_to("..data/tls.crt")
    (tmp_path / "tls.key").symlink_to("..data/tls.key")
    holder = ServingContext()
    watcher = CertFileWatcher(holder, tmp_path / "tls.crt", tmp_path / "tls.key", interval=0.05)
    watcher.start()
    try:
        assert holder.info is not None and holder.info.serial == first.cert.serial_number
        assert watcher.check_once() is False  # unchanged content: no reload

        publish("v2", second.cert_pem, first.key_pem)  # torn: new cert, old key
        assert watcher.check_once() is False
        assert holder.info.serial == first.cert.serial_number

        publish("v3", second.cert_pem, second.key_pem)
        deadline = time.monotonic() + 5
        while holder.info.serial != second.cert.serial_number:
            assert time.monotonic() < deadline, "watcher thread did not reload"
            time.sleep(0.02)
    finally:
        watcher.stop()


def test_file_watcher_start_fails_clearly_on_missing_files(tmp_path: Path) -> None:
    watcher = CertFileWatcher(ServingContext(), tmp_path / "nope.crt", tmp_path / "nope.key")
    with pytest.raises(InvalidCertificateError, match="cannot read certificate files"):
        watcher.start()
