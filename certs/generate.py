"""Pure certificate generation and validation (``cryptography`` only, no cluster access).

Profile: an ECDSA P-256 CA (RSA-2048 as an option) and serving leaves with
SANs for the Service, EKU serverAuth, ``CA:FALSE``, SKI/AKI, a random serial and a
``notBefore`` backdated by five minutes. Every function takes ``now`` explicitly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import InvalidCertificateError

logger = logging.getLogger(__name__)

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BACKDATE = timedelta(minutes=5)
CA_COMMON_NAME = "sidecar-injector-ca"
ORGANIZATION = "sidecar-injector"


def utcnow() -> datetime:
    """The default clock: timezone-aware UTC now."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CertKeyPair:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class CertInfo:
    """What operators and readiness checks need to know about a certificate."""

    serial: int
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    fingerprint: str

    def seconds_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds()


def make_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r} (expected 'ec' or 'rsa')")


def make_ca(now: datetime, validity: timedelta, key_type: KeyType = "ec") -> CertKeyPair:
    """A self-signed CA valid from ``now - 5 min`` to ``now + validity``."""
    key = make_key(key_type)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            # A unique CN keeps rotated CAs apart in the trust bundle.
            x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_COMMON_NAME}-{secrets.token_hex(4)}"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        _base_builder(name, now - BACKDATE, now + validity, key)
        .issuer_name(name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
    )
    return CertKeyPair(builder.sign(key, hashes.SHA256()), key)


def make_leaf(
    ca: CertKeyPair,
    now: datetime,
    validity: timedelta,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    key_type: KeyType = "ec",
) -> CertKeyPair:
    """A serving certificate signed by ``ca``; never outlives the CA."""
    if not dns_names:
        raise ValueError("a serving certificate needs at least one DNS name")
    not_before = max(now - BACKDATE, ca.cert.not_valid_before_utc)
    not_after = min(now + validity, ca.cert.not_valid_after_utc)
    if not_after <= now or not_after <= not_before:
        raise InvalidCertificateError(
            f"cannot sign a leaf at {now.isoformat()}: outside the CA's validity "
            f"({ca.cert.not_valid_before_utc.isoformat()} to {not_after.isoformat()})"
        )
    key = make_key(key_type)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _leaf_common_name(dns_names))])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    builder = (
        _base_builder(subject, not_before, not_after, key)
        .issuer_name(ca.cert.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=key_type == "rsa"), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(aki, critical=False)
    )
    return CertKeyPair(builder.sign(ca.key, hashes.SHA256()), key)


def service_dns_names(
    service: str, namespace: str, cluster_domain: str = "cluster.local", extra: Iterable[str] = ()
) -> tuple[str, ...]:
    """``<svc>``, ``<svc>.<ns>``, ``<svc>.<ns>.svc``, ``<svc>.<ns>.svc.<domain>``, then extras."""
    names = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]
    if cluster_domain:
        names.append(f"{service}.{namespace}.svc.{cluster_domain.strip('.')}")
    names.extend(extra)
    return tuple(dict.fromkeys(names))


def load_ca(cert_pem: bytes, key_pem: bytes, now: datetime) -> CertKeyPair:
    """Parse and validate a CA pair; raise ``InvalidCertificateError`` saying what is wrong."""
    cert = load_cert(cert_pem, what="CA certificate")
    key = load_key(key_pem, what="CA key")
    check_key_matches(cert, key, what="CA")
    if not is_ca(cert):
        raise InvalidCertificateError("the CA certificate is not a CA (basicConstraints CA:FALSE)")
    if cert.not_valid_after_utc <= now:
        raise InvalidCertificateError(f"the CA expired at {cert.not_valid_after_utc.isoformat()}")
    if cert.not_valid_before_utc > now + BACKDATE:
        raise InvalidCertificateError(
            f"the CA is not valid before {cert.not_valid_before_utc.isoformat()}"
        )
    return CertKeyPair(cert, key)


def load_cert(pem: bytes, what: str = "certificate") -> x509.Certificate:
    """The first certificate of a PEM blob."""
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError as exc:
        raise InvalidCertificateError(f"{what} is not valid PEM: {exc}") from None


def load_certs(pem: bytes, what: str = "bundle") -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (at least one)."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidCertificateError(f"{what} is not valid PEM: {exc}") from None


def load_key(pem: bytes, what: str = "private key") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidCertificateError(f"{what} is not a valid unencrypted PEM key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidCertificateError(f"{what} has unsupported type {type(key).__name__}")
    return key


def check_key_matches(cert: x509.Certificate, key: PrivateKey, what: str = "certificate") -> None:
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise InvalidCertificateError(f"the {what} key does not match its certificate")


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``ca`` signed ``cert`` (signature checked, not just names)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def to_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def cert_info(cert: x509.Certificate) -> CertInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return CertInfo(
        serial=cert.serial_number,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns,
        ip_addresses=ips,
        fingerprint=fingerprint(cert),
    )


def _base_builder(
    subject: x509.Name, not_before: datetime, not_after: datetime, key: PrivateKey
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(
    *, digital_signature: bool = False, key_encipherment: bool = False, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_common_name(dns_names: Sequence[str]) -> str:
    """``<svc>.<ns>.svc`` when present (what the apiserver dials), else the first name."""
    svc_names = [n for n in dns_names if n.endswith(".svc")]
    return (svc_names or list(dns_names))[0][:64]


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
