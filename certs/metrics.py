"""Prometheus metrics for certificate management (default registry).

- ``sidecar_injector_cert_expiry_seconds{kind="ca"|"leaf"}``: seconds until notAfter.
- ``sidecar_injector_cabundle_patches_total{result="ok"|"error"}``: caBundle writes.
- ``sidecar_injector_ca_secret_conflicts_total``: 409s on the CA Secret (create/update races).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CERT_EXPIRY = Gauge(
    "sidecar_injector_cert_expiry_seconds",
    "Seconds until the certificate's notAfter.",
    ["kind"],
)
CABUNDLE_PATCHES = Counter(
    "sidecar_injector_cabundle_patches",
    "Server-side applies of the webhook caBundle, by result.",
    ["result"],
)
SECRET_CONFLICTS = Counter(
    "sidecar_injector_ca_secret_conflicts",
    "Conflicts (HTTP 409) writing the CA Secret.",
)
