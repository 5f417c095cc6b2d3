"""Pure rotation and trust decisions; ``now`` is always passed in.

- CA: rotate when less than 1/3 of its lifetime is left.
- Leaf: renew when 2/3 of its lifetime is used.
- Trust bundle: active CA first, then previous CAs until they expire, de-duplicated.
- Bundle-before-use: sign with the newest CA that has been in the live ``caBundle`` for at
  least a grace delay; with none such, the newest CA (first install; readiness waits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from cryptography import x509

from certs import generate
from certs.errors import InvalidCertificateError
from certs.generate import CertKeyPair

logger = logging.getLogger(__name__)

CA_ROTATE_REMAINING = 1 / 3
LEAF_RENEW_USED = 2 / 3


def life_fraction_used(cert: x509.Certificate, now: datetime) -> float:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    total = (end - start).total_seconds()
    if total <= 0:
        return 1.0
    return (now - start).total_seconds() / total


def ca_rotation_reason(ca: x509.Certificate, now: datetime) -> str | None:
    """Why ``ca`` must be replaced, or ``None`` while it is good for signing."""
    if not generate.is_ca(ca):
        return "the certificate is not a CA"
    if ca.not_valid_after_utc <= now:
        return f"it expired at {ca.not_valid_after_utc.isoformat()}"
    if 1 - life_fraction_used(ca, now) < CA_ROTATE_REMAINING:
        return (
            f"less than 1/3 of its lifetime is left (expires {ca.not_valid_after_utc.isoformat()})"
        )
    return None


def ca_needs_rotation(ca: x509.Certificate, now: datetime) -> bool:
    return ca_rotation_reason(ca, now) is not None


def leaf_needs_renewal(leaf: x509.Certificate, now: datetime) -> bool:
    return life_fraction_used(leaf, now) >= LEAF_RENEW_USED


def merge_bundle(
    active: x509.Certificate, previous_bundle_pem: bytes, now: datetime
) -> tuple[x509.Certificate, ...]:
    """Active CA first, then unexpired previous CAs; duplicates, garbage and non-CAs dropped."""
    previous: Sequence[x509.Certificate] = ()
    if previous_bundle_pem.strip():
        try:
            previous = generate.load_certs(previous_bundle_pem, what="ca.crt")
        except InvalidCertificateError as exc:
            logger.warning("dropping the previous trust bundle: %s", exc)
    merged: dict[str, x509.Certificate] = {generate.fingerprint(active): active}
    for cert in previous:
        if generate.is_ca(cert) and cert.not_valid_after_utc > now:
            merged.setdefault(generate.fingerprint(cert), cert)
    return tuple(merged.values())


class LiveBundleObserver:
    """Remembers since when each CA has been continuously present in the live ``caBundle``."""

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}
        self._certs: tuple[x509.Certificate, ...] = ()
        self.observed = False

    def observe(self, certs: Iterable[x509.Certificate], now: datetime) -> None:
        self._certs = tuple(certs)
        present = {generate.fingerprint(c) for c in self._certs}
        self._since = {fp: self._since.get(fp, now) for fp in present}
        self.observed = True

    @property
    def since(self) -> Mapping[str, datetime]:
        return dict(self._since)

    def trusts(self, leaf: x509.Certificate) -> bool:
        return any(generate.issued_by(leaf, ca) for ca in self._certs)


def signing_ca(
    candidates: Sequence[CertKeyPair],
    live_since: Mapping[str, datetime],
    now: datetime,
    grace: timedelta,
) -> CertKeyPair | None:
    """The bundle-before-use rule; ``candidates`` are CAs whose keys we hold."""
    usable = [c for c in candidates if c.cert.not_valid_after_utc > now]
    if not usable:
        return None
    newest_first = sorted(usable, key=lambda c: c.cert.not_valid_before_utc, reverse=True)
    for ca in newest_first:
        since = live_since.get(generate.fingerprint(ca.cert))
        if since is not None and now - since >= grace:
            return ca
    return newest_first[0]
