"""Hot-swappable TLS serving certificates for uvicorn.

The listening socket uses one *base* context that holds the whole protocol and cipher
policy and no certificate. Its ``sni_callback`` runs on every handshake and points the
connection at ``ServingContext``'s current context, which only supplies cert and key.
A new certificate is loaded into a brand-new context off to the side, validated, and only
then published, together with its ``CertInfo``, by swapping one reference to an immutable
pair; the live context is never modified, so a bad certificate can never brick the listener
and existing connections keep theirs.

Use with uvicorn >= 0.47::

    holder = ServingContext()
    holder.load_pem(chain_pem, key_pem)
    config = uvicorn.Config(app, ssl_context_factory=lambda _c, _d: holder.base_context())
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from certs import generate, metrics
from certs.errors import InvalidCertificateError
from certs.generate import CertInfo

__all__ = ["CertFileWatcher", "CertInfo", "ServingContext"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class ServingContext:
    """Holds the current serving ``SSLContext`` and swaps it atomically."""

    def __init__(
        self,
        *,
        minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        clock: Clock = generate.utcnow,
    ) -> None:
        self._minimum_version = minimum_version
        self._clock = clock
        # Replaced whole, never mutated: readers see a matching context and info.
        self._serving: tuple[ssl.SSLContext, CertInfo] | None = None

    @property
    def info(self) -> CertInfo | None:
        """The certificate new handshakes get, or ``None`` before the first load."""
        serving = self._serving
        return None if serving is None else serving[1]

    def base_context(self) -> ssl.SSLContext:
        """The listening context: TLS policy plus the callback that swaps in the current cert."""
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.minimum_version = self._minimum_version
        base.sni_callback = self._select
        return base

    def load_pem(self, cert_chain_pem: bytes, key_pem: bytes) -> CertInfo:
        """Validate a leaf (+ chain) and key, build a new context, then swap it in.

        On failure raise ``InvalidCertificateError`` and keep serving the previous one.
        """
        info = self._validate(cert_chain_pem, key_pem)
        context = self._build_context(cert_chain_pem, key_pem)
        self._serving = (context, info)
        logger.info(
            "serving certificate loaded: serial=%x notAfter=%s",
            info.serial,
            info.not_after.isoformat(),
        )
        return info

    def _select(self, sslobj: ssl.SSLObject, server_name: str | None, base: ssl.SSLContext) -> Any:
        serving = self._serving
        if serving is None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        sslobj.context = serving[0]
        return None

    def _validate(self, cert_chain_pem: bytes, key_pem: bytes) -> CertInfo:
        leaf = generate.load_cert(cert_chain_pem, what="serving certificate")
        key = generate.load_key(key_pem, what="serving key")
        generate.check_key_matches(leaf, key, what="serving")
        info = generate.cert_info(leaf)
        now = self._clock()
        if info.not_after <= now:
            raise InvalidCertificateError(
                f"the serving certificate expired at {info.not_after.isoformat()}"
            )
        return info

    def _build_context(self, cert_chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self._minimum_version
        # load_cert_chain reads files only: a private (0700) directory under $TMPDIR or /tmp,
        # which the Deployment mounts as a memory-backed emptyDir; removed right after.
        with tempfile.TemporaryDirectory(prefix="injector-tls-") as tmp:
            cert_path = _write_private(Path(tmp, "tls.crt"), cert_chain_pem)
            key_path = _write_private(Path(tmp, "tls.key"), key_pem)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                raise InvalidCertificateError(f"OpenSSL rejected the certificate: {exc}") from None
        return context


class CertFileWatcher:
    """Reload user-provided cert files (cert-manager, ``certs generate``) when they change.

    Polls a hash of both files' content every ``interval`` seconds, so the kubelet's
    ``..data`` symlink swap is seen like any edit. A torn or bad pair is logged and the last
    good certificate keeps serving; the next change is tried again.
    """

    def __init__(
        self,
        holder: ServingContext,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        *,
        interval: float = 10.0,
    ) -> None:
        self._holder = holder
        self._cert_path = Path(cert_path)
        self._key_path = Path(key_path)
        self._interval = interval
        self._seen: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Reload if the content changed; True when a new certificate was loaded."""
        try:
            cert_pem, key_pem = self._read()
        except InvalidCertificateError as exc:
            logger.warning("%s; keeping the current certificate", exc)
            return False
        digest = _digest(cert_pem, key_pem)
        if digest == self._seen:
            return False
        self._seen = digest
        try:
            self._holder.load_pem(cert_pem, key_pem)
        except InvalidCertificateError as exc:
            logger.error("not reloading %s: %s; keeping the current one", self._cert_path, exc)
            return False
        return True

    def start(self) -> None:
        """Load once now (``InvalidCertificateError`` raised), then poll in a daemon thread."""
        cert_pem, key_pem = self._read()
        self._holder.load_pem(cert_pem, key_pem)
        self._seen = _digest(cert_pem, key_pem)
        self._publish()
        self._thread = threading.Thread(target=self._run, name="cert-file-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.check_once()
            self._publish()

    def _publish(self) -> None:
        info = self._holder.info
        if info is not None:
            metrics.CERT_EXPIRY.labels(kind="leaf").set(info.seconds_left(generate.utcnow()))

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self._cert_path.read_bytes(), self._key_path.read_bytes()
        except OSError as exc:
            raise InvalidCertificateError(f"cannot read certificate files: {exc}") from None


def _digest(cert_pem: bytes, key_pem: bytes) -> str:
    return hashlib.sha256(cert_pem + b"\0" + key_pem).hexdigest()


def _write_private(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)
