"""Where the webhook's serving certificate comes from: a pluggable ``TLSSource``.

The server needs only the listening ``SSLContext`` (all protocol policy, TLS >= 1.2) and a
readiness check. Both sources publish into ``certs.tls.ServingContext``, whose base context
picks the current certificate on every handshake, so a new certificate never needs a restart
and a bad one never replaces a good one:

- ``FileSource``: ``--tls-cert-file``/``--tls-key-file``, reloaded when their content
  changes (``certs.tls.CertFileWatcher``: kubelet ``..data`` swaps, cert-manager renewals);
- ``ManagedSource``: ``--self-managed-certs`` (``certs.manager.CertManager`` mints the CA
  and leaf, keeps the Secret and the caBundle right). ``kubernetes`` is imported only here.
"""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from certs.errors import CertError
from certs.tls import CertFileWatcher, ServingContext
from injector.errors import InjectorError

if TYPE_CHECKING:
    from certs.manager import CertManager

logger = logging.getLogger(__name__)

# After the server has stopped, how long the certificate threads may take to end (a
# reconcile in flight); the watches are cut off at once.
STOP_SECONDS = 0.5


class TLSError(InjectorError):
    """The serving certificate cannot be loaded, or the TLS flags do not fit together."""


class TLSSource(Protocol):
    def ssl_context(self) -> ssl.SSLContext:
        """The listening context for uvicorn's ``ssl_context_factory``."""
        ...

    def ready(self) -> tuple[bool, str]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class FileSource:
    """Cert and key files, reloaded when they change; the last good pair keeps serving."""

    def __init__(self, cert_path: Path, key_path: Path, interval: float = 10.0) -> None:
        self.holder = ServingContext(minimum_version=ssl.TLSVersion.TLSv1_2)
        self._watcher = CertFileWatcher(self.holder, cert_path, key_path, interval=interval)
        self._paths = (cert_path, key_path)

    def start(self) -> None:
        try:
            self._watcher.start()
        except CertError as exc:
            raise TLSError(f"cannot load {self._paths[0]} / {self._paths[1]}: {exc}") from exc

    def stop(self) -> None:
        self._watcher.stop()

    def ssl_context(self) -> ssl.SSLContext:
        return self.holder.base_context()

    def ready(self) -> tuple[bool, str]:
        info = self.holder.info
        return expiry_check(None if info is None else info.not_after)


class ManagedSource:
    """Self-managed certificates: ``CertManager`` publishes its leaf into the holder."""

    def __init__(
        self,
        *,
        namespace: str,
        service_name: str,
        secret_name: str,
        webhook_config_name: str,
        cluster_domain: str,
        extra_dns_names: tuple[str, ...] = (),
        extra_ips: tuple[str, ...] = (),
    ) -> None:
        from certs.manager import CertManager, CertSettings  # kubernetes: only in this mode

        settings = CertSettings(
            namespace=namespace,
            service_name=service_name,
            secret_name=secret_name,
            webhook_config_name=webhook_config_name,
            cluster_domain=cluster_domain,
            extra_dns_names=extra_dns_names,
            extra_ips=extra_ips,
        )
        self.holder = ServingContext(minimum_version=ssl.TLSVersion.TLSv1_2)
        try:
            self.manager: CertManager = CertManager(settings, None, self.holder)
        except Exception as exc:  # no kubeconfig / not in a cluster
            raise TLSError(f"--self-managed-certs: cannot reach the Kubernetes API: {exc}") from exc

    def start(self) -> None:
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop(timeout=STOP_SECONDS)

    def ssl_context(self) -> ssl.SSLContext:
        return self.holder.base_context()

    def ready(self) -> tuple[bool, str]:
        return self.manager.ready()


def expiry_check(not_after: datetime | None) -> tuple[bool, str]:
    if not_after is None:
        return False, "no serving certificate loaded"
    if not_after <= datetime.now(UTC):
        return False, f"the serving certificate expired at {not_after.isoformat()}"
    return True, f"serving certificate valid until {not_after.isoformat()}"
