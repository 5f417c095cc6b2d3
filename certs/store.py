"""The shared CA Secret: create-or-adopt, rotate with optimistic locking.

Layout (``kubernetes.io/tls``): ``tls.crt``/``tls.key`` the active CA, ``ca.crt`` the trust
bundle (active first, then previous CAs until they expire). Every replica runs the same
algorithm; the API server's 409s pick exactly one writer per version and the losers adopt.
Invalid content (garbage, key mismatch, expired, not a CA) is a rotation, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certs import defaults, generate, metrics, policy
from certs.errors import ConflictError, InvalidCertificateError
from certs.generate import CertKeyPair, KeyType
from certs.kube import KubeApi, ObjectMeta, SecretState

logger = logging.getLogger(__name__)

MANAGED_BY = "sidecar-injector"
FORMAT_ANNOTATION = "sidecar-injector.io/ca-format"
MAX_CONFLICTS = 5
BUNDLE_STALE = "ca.crt is not the pruned trust bundle"


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    ca_validity: timedelta = timedelta(days=defaults.CA_DAYS)
    key_type: KeyType = "ec"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class CaState:
    """The adopted Secret: the active CA and the trust bundle everyone must carry."""

    active: CertKeyPair
    bundle: tuple[x509.Certificate, ...]
    resource_version: str

    @property
    def bundle_pem(self) -> bytes:
        return generate.to_pem(self.bundle)


def ensure_ca(kube: KubeApi, ref: SecretRef, clock: Callable[[], datetime]) -> CaState:
    """Read the Secret and make it hold a good CA: create, adopt, repair or rotate."""
    for _ in range(MAX_CONFLICTS):
        try:
            return _reconcile_once(kube, ref, clock())
        except ConflictError as exc:
            metrics.SECRET_CONFLICTS.inc()
            logger.info("CA Secret %s changed under us (%s); re-reading to adopt", ref, exc)
    raise ConflictError(f"CA Secret {ref}: still conflicting after {MAX_CONFLICTS} attempts")


def parse_ca(secret: SecretState, now: datetime) -> tuple[CaState | None, str | None]:
    """The Secret's state if usable as is, else ``(valid-but-stale or None, reason)``."""
    data = secret.data
    try:
        active = generate.load_ca(data.get("tls.crt", b""), data.get("tls.key", b""), now)
    except InvalidCertificateError as exc:
        return None, str(exc)
    reason = policy.ca_rotation_reason(active.cert, now)
    state = CaState(
        active=active,
        bundle=policy.merge_bundle(active.cert, data.get("ca.crt", b""), now),
        resource_version=secret.resource_version,
    )
    if reason is not None:
        return state, f"the CA needs rotation: {reason}"
    if state.bundle_pem != data.get("ca.crt"):
        return state, BUNDLE_STALE
    return state, None


def _reconcile_once(kube: KubeApi, ref: SecretRef, now: datetime) -> CaState:
    secret = kube.read_secret(ref.namespace, ref.name)
    if secret is None:
        return _create(kube, ref, now)
    state, reason = parse_ca(secret, now)
    if reason is None and state is not None:
        return state
    if state is not None and reason == BUNDLE_STALE:
        logger.info("CA Secret %s: repairing ca.crt", ref)
        return _write(kube, ref, state.active, state.bundle, secret.resource_version)
    logger.warning("CA Secret %s needs a new CA: %s", ref, reason)
    new = generate.make_ca(now, ref.ca_validity, ref.key_type)
    # Keep trusting the previous CAs; merge_bundle drops an unreadable ca.crt and expired CAs.
    previous = state.bundle_pem if state else secret.data.get("ca.crt", b"")
    bundle = policy.merge_bundle(new.cert, previous, now)
    written = _write(kube, ref, new, bundle, secret.resource_version)
    logger.info("CA Secret %s: rotated to CA serial %x", ref, new.cert.serial_number)
    return written


def _create(kube: KubeApi, ref: SecretRef, now: datetime) -> CaState:
    ca = generate.make_ca(now, ref.ca_validity, ref.key_type)
    bundle = (ca.cert,)
    saved = kube.create_secret(ref.namespace, ref.name, _data(ca, bundle), _meta())
    logger.info("CA Secret %s created with CA serial %x", ref, ca.cert.serial_number)
    return CaState(active=ca, bundle=bundle, resource_version=saved.resource_version)


def _write(
    kube: KubeApi,
    ref: SecretRef,
    ca: CertKeyPair,
    bundle: tuple[x509.Certificate, ...],
    resource_version: str,
) -> CaState:
    saved = kube.replace_secret(
        ref.namespace, ref.name, _data(ca, bundle), _meta(), resource_version
    )
    return CaState(active=ca, bundle=bundle, resource_version=saved.resource_version)


def _data(ca: CertKeyPair, bundle: tuple[x509.Certificate, ...]) -> dict[str, bytes]:
    return {"tls.crt": ca.cert_pem, "tls.key": ca.key_pem, "ca.crt": generate.to_pem(bundle)}


def _meta() -> ObjectMeta:
    return ObjectMeta(
        labels={"app.kubernetes.io/managed-by": MANAGED_BY},
        annotations={FORMAT_ANNOTATION: "1"},
    )
