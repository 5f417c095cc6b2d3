from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from certs import generate
from certs.generate import CertKeyPair

SERVICE = "injector"
NAMESPACE = "mesh-system"
DNS_NAMES = generate.service_dns_names(SERVICE, NAMESPACE, "cluster.local", ["localhost"])
IPS = ("127.0.0.1",)

LeafFactory = Callable[..., CertKeyPair]


@pytest.fixture(scope="session")
def ca() -> CertKeyPair:
    return generate.make_ca(generate.utcnow(), timedelta(days=30))


@pytest.fixture(scope="session")
def other_ca() -> CertKeyPair:
    return generate.make_ca(generate.utcnow(), timedelta(days=30))


@pytest.fixture
def make_leaf(ca: CertKeyPair) -> LeafFactory:
    def make(
        signer: CertKeyPair | None = None, validity: timedelta = timedelta(days=1)
    ) -> CertKeyPair:
        return generate.make_leaf(signer or ca, generate.utcnow(), validity, DNS_NAMES, IPS)

    return make
