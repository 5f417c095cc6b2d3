"""Where the webhook's serving certificate comes from: a pluggable ``TLSSource``.

The server only needs the listening ``SSLContext`` (all protocol policy, TLS >= 1.2) and a
readiness check. ``certs.tls`` (hot-swappable ``ServingContext`` + ``CertFileWatcher``) and
``certs.manager.CertManager`` (self-managed certs) provide the real implementations; they
live in the optional ``certs`` package and are imported only when asked for.

``FileSource`` serves ``--tls-cert-file``/``--tls-key-file``: with ``certs.tls`` installed
it reloads them when they change; without it, it loads them once (``StaticFiles``).
"""

from __future__ import annotations

import importlib
import logging
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509

from injector.errors import InjectorError

logger = logging.getLogger(__name__)


class TLSError(InjectorError):
    """The serving certificate cannot be loaded or the TLS mode is unavailable."""


class TLSSource(Protocol):
    def ssl_context(self) -> ssl.SSLContext:
        """The listening context for uvicorn's ``ssl_context_factory``."""
        ...

    def ready(self) -> tuple[bool, str]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def base_context(minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    return context


class StaticFiles:
    """Cert and key loaded once at start-up (no hot reload)."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self._context: ssl.SSLContext | None = None
        self._not_after: datetime | None = None

    def start(self) -> None:
        context = base_context()
        try:
            context.load_cert_chain(self.cert_path, self.key_path)
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TLSError(f"cannot load {self.cert_path} / {self.key_path}: {exc}") from exc
        self._context, self._not_after = context, cert.not_valid_after_utc

    def stop(self) -> None:
        pass

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            raise TLSError("certificate not loaded: call start() first")
        return self._context

    def ready(self) -> tuple[bool, str]:
        return _expiry_check(self._not_after)


class WatchedFiles:
    """Cert files reloaded on change, through ``certs.tls`` (kept: the last good pair)."""

    def __init__(self, cert_path: Path, key_path: Path, interval: float, certs_tls: Any) -> None:
        self._holder = certs_tls.ServingContext()
        self._watcher = certs_tls.CertFileWatcher(
            self._holder, cert_path, key_path, interval=interval
        )
        self._paths = (cert_path, key_path)

    def start(self) -> None:
        try:
            self._watcher.start()
        except Exception as exc:  # certs.errors.InvalidCertificateError
            raise TLSError(f"cannot load {self._paths[0]} / {self._paths[1]}: {exc}") from exc

    def stop(self) -> None:
        self._watcher.stop()

    def ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = self._holder.base_context()
        return context

    def ready(self) -> tuple[bool, str]:
        info = self._holder.info
        return _expiry_check(None if info is None else info.not_after)


def file_source(cert_path: Path, key_path: Path, interval: float = 10.0) -> TLSSource:
    certs_tls = _optional("certs.tls")
    if certs_tls is None:
        logger.warning("certs.tls is not available: the serving certificate is not hot-reloaded")
        return StaticFiles(cert_path, key_path)
    return WatchedFiles(cert_path, key_path, interval, certs_tls)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _expiry_check(not_after: datetime | None) -> tuple[bool, str]:
    if not_after is None:
        return False, "no serving certificate loaded"
    if not_after <= datetime.now(UTC):
        return False, f"the serving certificate expired at {not_after.isoformat()}"
    return True, f"serving certificate valid until {not_after.isoformat()}"


class ManagedCerts:
    """Self-managed certificates: ``certs.manager.CertManager`` publishes into a holder."""

    def __init__(self, settings: dict[str, str]) -> None:
        certs_tls, manager = _optional("certs.tls"), _optional("certs.manager")
        if certs_tls is None or manager is None or not hasattr(manager, "CertManager"):
            raise TLSError(
                "--self-managed-certs is not available in this build (the certs package is "
                "missing); use --tls-cert-file/--tls-key-file"
            )
        self._holder = certs_tls.ServingContext()
        self._manager = manager.CertManager(manager.CertSettings(**settings), None, self._holder)

    def start(self) -> None:
        self._manager.start()

    def stop(self) -> None:
        self._manager.stop()

    def ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = self._holder.base_context()
        return context

    def ready(self) -> tuple[bool, str]:
        ok, reason = self._manager.ready()
        return bool(ok), str(reason)
