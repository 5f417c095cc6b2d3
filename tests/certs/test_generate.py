"""Certificate profile: SANs, EKU, KU, basic constraints, validity, chain; bad PEM input."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs import generate
from certs.errors import InvalidCertificateError
from certs.generate import KeyType

NOW = generate.utcnow().replace(microsecond=0)


def ext(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def test_service_dns_names_order_and_dedupe() -> None:
    assert generate.service_dns_names("inj", "ns", "cluster.local.", ["inj", "x.example"]) == (
        "inj",
        "inj.ns",
        "inj.ns.svc",
        "inj.ns.svc.cluster.local",
        "x.example",
    )


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_ca_profile(key_type: KeyType) -> None:
    ca = generate.make_ca(NOW, timedelta(days=365), key_type)
    cert = ca.cert
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0  # type: ignore[attr-defined]
    ku = ext(cert, x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign  # type: ignore[attr-defined]
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    expected = ec.EllipticCurvePublicKey if key_type == "ec" else rsa.RSAPublicKey
    assert isinstance(cert.public_key(), expected)
    assert generate.load_ca(ca.cert_pem, ca.key_pem, NOW).cert == cert


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_leaf_profile(key_type: KeyType) -> None:
    ca = generate.make_ca(NOW, timedelta(days=365), key_type)
    names = generate.service_dns_names("inj", "ns", "cluster.local")
    leaf = generate.make_leaf(ca, NOW, timedelta(days=7), names, ["10.1.2.3"], key_type).cert
    san = ext(leaf, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(names)  # type: ignore[attr-defined]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]  # type: ignore[attr-defined]
    assert ext(leaf, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    ku = ext(leaf, x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign  # type: ignore[attr-defined]
    assert ku.key_encipherment is (key_type == "rsa")  # type: ignore[attr-defined]
    assert ext(leaf, x509.BasicConstraints).value.ca is False  # type: ignore[attr-defined]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "inj.ns.svc"
    aki = ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier  # type: ignore[attr-defined]
    assert aki == ext(ca.cert, x509.SubjectKeyIdentifier).value.digest  # type: ignore[attr-defined]
    assert leaf.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert leaf.not_valid_after_utc == NOW + timedelta(days=7)
    leaf.verify_directly_issued_by(ca.cert)
    other = generate.make_ca(NOW, timedelta(days=1))
    assert generate.issued_by(leaf, ca.cert) and not generate.issued_by(leaf, other.cert)


def test_leaf_never_outlives_its_ca_and_serials_are_random() -> None:
    ca = generate.make_ca(NOW, timedelta(days=2))
    leaves = [generate.make_leaf(ca, NOW, timedelta(days=7), ["a.svc"]) for _ in range(3)]
    assert all(le.cert.not_valid_after_utc == ca.cert.not_valid_after_utc for le in leaves)
    assert len({le.cert.serial_number for le in leaves}) == 3
    with pytest.raises(InvalidCertificateError, match="outside the CA's validity"):
        generate.make_leaf(ca, NOW + timedelta(days=3), timedelta(days=1), ["a.svc"])


def test_load_ca_rejects_bad_material_with_a_clear_reason() -> None:
    ca = generate.make_ca(NOW, timedelta(days=10))
    other = generate.make_ca(NOW, timedelta(days=10))
    leaf = generate.make_leaf(ca, NOW, timedelta(days=1), ["a.svc"])
    cases = [
        (b"garbage", ca.key_pem, "not valid PEM"),
        (ca.cert_pem, b"garbage", "not a valid unencrypted PEM key"),
        (ca.cert_pem, other.key_pem, "key does not match"),
        (leaf.cert_pem, leaf.key_pem, "not a CA"),
    ]
    for cert_pem, key_pem, reason in cases:
        with pytest.raises(InvalidCertificateError, match=reason):
            generate.load_ca(cert_pem, key_pem, NOW)
    with pytest.raises(InvalidCertificateError, match="expired"):
        generate.load_ca(ca.cert_pem, ca.key_pem, NOW + timedelta(days=11))
