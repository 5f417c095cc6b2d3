"""A PKI for tests: a CA and the leaves it signs, written as PEM files, never committed.

``make_certs`` is a webhook's serving certificate for localhost/127.0.0.1 (tests/webhook and
every test that runs ``injector serve`` with files); ``make_ca`` and ``Authority.issue`` make
any other leaf: the control plane's serving and admin client certificates (tests/cluster).
Keys are EC P-256; validity starts five minutes back, for clock skew between processes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Leaf:
    cert_pem: bytes
    key_pem: bytes

    def write(self, cert: Path, key: Path) -> None:
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)


@dataclass(frozen=True)
class Authority:
    """A self-signed CA; ``issue`` signs leaves valid for as long as the CA."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        *,
        organization: str | None = None,
        dns_names: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization is not None:
            subject.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.cert.not_valid_before_utc)
            .not_valid_after(self.cert.not_valid_after_utc)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return Leaf(cert_pem(builder.sign(self.key, hashes.SHA256())), key_pem(key))


def make_ca(common_name: str, *, days: float) -> Authority:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


@dataclass(frozen=True)
class Certs:
    """A serving certificate's files: ``ca.crt``, ``tls.crt``, ``tls.key``."""

    directory: Path
    ca: Path
    cert: Path
    key: Path


def make_certs(
    directory: Path, *, days: int = 30, names: tuple[str, ...] = ("localhost",)
) -> Certs:
    """A fresh CA and a serving leaf for ``names`` and 127.0.0.1, written to ``directory``."""
    ca = make_ca("test webhook CA", days=days)
    leaf = ca.issue(names[0], SERVER_AUTH, dns_names=names, ips=("127.0.0.1",))
    directory.mkdir(parents=True, exist_ok=True)
    paths = Certs(directory, directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    paths.ca.write_bytes(ca.cert_pem)
    leaf.write(paths.cert, paths.key)
    return paths
