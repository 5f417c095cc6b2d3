"""Keep ``caBundle`` of our MutatingWebhookConfiguration entries equal to the Secret's ``ca.crt``.

The desired value is a pure function of shared state, so every replica may reconcile it.
We compare first and write only on a difference, with server-side apply of
just ``name`` + ``clientConfig.caBundle`` per entry, so Helm/GitOps keep owning the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from certs import generate, metrics
from certs.defaults import FIELD_MANAGER
from certs.errors import ClusterAccessError, InvalidCertificateError, NotFoundError
from certs.kube import KubeApi, WebhookConfigState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookTarget:
    """Which MWC and which of its entries are ours: those in ``webhook_names``, else all."""

    config_name: str
    webhook_names: tuple[str, ...] = ()

    def select(self, names: Sequence[str]) -> list[str]:
        if self.webhook_names:
            return [n for n in names if n in self.webhook_names]
        return list(names)


def reconcile(kube: KubeApi, target: WebhookTarget, bundle_pem: bytes) -> WebhookConfigState:
    """Make our entries carry ``bundle_pem``; return the live state after any write."""
    live = kube.read_webhook_config(target.config_name)
    if live is None:
        raise NotFoundError(
            f"MutatingWebhookConfiguration `{target.config_name}` not found: install it "
            "(its caBundle is filled in by the injector)"
        )
    ours = target.select(list(live.ca_bundles))
    if not ours:
        wanted = f"named {', '.join(target.webhook_names)}" if target.webhook_names else "at all"
        raise ClusterAccessError(
            f"MutatingWebhookConfiguration `{target.config_name}` has no webhook entry {wanted}"
        )
    stale = [n for n in ours if live.ca_bundles[n] != bundle_pem]
    if not stale:
        return live
    try:
        applied = kube.apply_ca_bundle(target.config_name, ours, bundle_pem, FIELD_MANAGER)
    except ClusterAccessError:
        metrics.CABUNDLE_PATCHES.labels(result="error").inc()
        raise
    metrics.CABUNDLE_PATCHES.labels(result="ok").inc()
    logger.info("caBundle of %s updated for %s", target.config_name, ", ".join(stale))
    return applied


def live_trusted(live: WebhookConfigState, target: WebhookTarget) -> tuple[x509.Certificate, ...]:
    """CAs present in *every* one of our entries (the apiserver may call any of them)."""
    ours = target.select(list(live.ca_bundles))
    common: dict[str, x509.Certificate] | None = None
    for name in ours:
        certs = _parse(live.ca_bundles[name])
        present = {generate.fingerprint(c): c for c in certs}
        common = present if common is None else {k: v for k, v in common.items() if k in present}
    return tuple((common or {}).values())


def _parse(bundle: bytes) -> list[x509.Certificate]:
    if not bundle.strip():
        return []
    try:
        return generate.load_certs(bundle, what="caBundle")
    except InvalidCertificateError as exc:
        logger.warning("live caBundle is unreadable: %s", exc)
        return []
