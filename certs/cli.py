"""``injector certs``: generate local certificates, report certificate and caBundle status.

Exit codes: 0 ok, 1 error or a problem found (one line on stderr, no traceback), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from certs import cabundle, defaults, generate, kube, policy, store
from certs import files as certfiles
from certs.errors import CertError

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.log_level != "debug":  # its retry warnings would precede our one-line error
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        result: int = args.func(args)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except (CertError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="injector certs", description=__doc__)
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="(default warning)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a CA and a serving certificate for local use")
    gen.add_argument(
        "--out", required=True, type=Path, help="directory for ca.crt, tls.crt, tls.key"
    )
    gen.add_argument(
        "--service", "--service-name", default=defaults.SERVICE_NAME, help="Service name (SANs)"
    )
    gen.add_argument(
        "--namespace", default=defaults.NAMESPACE, help="the Service's namespace (%(default)s)"
    )
    gen.add_argument("--cluster-domain", default=defaults.CLUSTER_DOMAIN, help="(%(default)s)")
    gen.add_argument("--dns-name", action="append", default=[], help="extra SAN (repeatable)")
    gen.add_argument("--ip", action="append", default=[], help="extra IP SAN (repeatable)")
    gen.add_argument("--no-localhost", action="store_true", help="omit localhost/127.0.0.1")
    gen.add_argument(
        "--key-type", choices=["ec", "rsa"], default="ec", help="ECDSA P-256 or RSA-2048 (ec)"
    )
    gen.add_argument(
        "--ca-days", type=_positive, default=defaults.CA_DAYS, help="CA lifetime (%(default)s)"
    )
    gen.add_argument(
        "--leaf-days",
        type=_positive,
        default=defaults.LEAF_DAYS,
        help="leaf lifetime, never past the CA's (%(default)s)",
    )
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    gen.set_defaults(func=_generate)

    status = sub.add_parser(
        "status", help="CA/leaf expiry and whether the live caBundle trusts them"
    )
    status.add_argument(
        "--cert-dir", type=Path, help="check local ca.crt/tls.crt instead of a cluster"
    )
    status.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)",
    )
    status.add_argument(
        "--namespace", default=defaults.NAMESPACE, help="where the CA Secret lives (%(default)s)"
    )
    status.add_argument(
        "--secret", "--secret-name", default=defaults.SECRET_NAME, help="CA Secret (%(default)s)"
    )
    status.add_argument(
        "--webhook-config",
        "--webhook-config-name",
        default=defaults.WEBHOOK_CONFIG_NAME,
        help="MutatingWebhookConfiguration (%(default)s)",
    )
    status.add_argument(
        "--webhook-name", action="append", default=[], help="our entries (default all)"
    )
    status.add_argument("--endpoint", help="HOST:PORT of a replica, to check the leaf it serves")
    status.set_defaults(func=_status)
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of days, got {value}")
    return number


def _generate(args: argparse.Namespace) -> int:
    out: Path = args.out
    files = [out / "ca.crt", out / "tls.crt", out / "tls.key"]
    existing = certfiles.existing(files)
    if existing and not args.force:
        raise CertError(f"refusing to overwrite {', '.join(map(str, existing))} (use --force)")
    extra = list(args.dns_name) + ([] if args.no_localhost else ["localhost"])
    names = generate.service_dns_names(args.service, args.namespace, args.cluster_domain, extra)
    ips = list(dict.fromkeys(list(args.ip) + ([] if args.no_localhost else ["127.0.0.1"])))
    now = generate.utcnow()
    ca = generate.make_ca(now, timedelta(days=args.ca_days), args.key_type)
    leaf = generate.make_leaf(ca, now, timedelta(days=args.leaf_days), names, ips, args.key_type)
    out.mkdir(parents=True, exist_ok=True)
    certfiles.write_all(
        [
            certfiles.File(files[0], ca.cert_pem, 0o644),
            certfiles.File(files[1], leaf.cert_pem, 0o644),
            certfiles.File(files[2], leaf.key_pem, 0o600),
        ]
    )
    print(f"wrote {', '.join(str(f) for f in files)}")
    print(_describe("leaf", leaf.cert, now))
    return 0


def _status(args: argparse.Namespace) -> int:
    now = generate.utcnow()
    if args.cert_dir is not None:
        return _local_status(args.cert_dir, now)
    api = kube.KubeApi(kube.make_api_client(args.kubeconfig))
    secret = api.read_secret(args.namespace, args.secret)
    if secret is None:
        raise CertError(f"CA Secret {args.namespace}/{args.secret} not found")
    state, reason = store.parse_ca(secret, now)
    problems = [f"CA Secret: {reason}"] if reason else []
    if state is not None:
        print(_describe("CA", state.active.cert, now))
    target = cabundle.WebhookTarget(args.webhook_config, tuple(args.webhook_name))
    live = api.read_webhook_config(args.webhook_config)
    trusted: tuple[x509.Certificate, ...] = ()
    if live is None:
        problems.append(f"MutatingWebhookConfiguration `{args.webhook_config}` not found")
    else:
        trusted = cabundle.live_trusted(live, target)
        in_bundle = state is not None and state.active.cert in trusted
        print(
            f"caBundle of {args.webhook_config}: {len(trusted)} CA(s); trusts the active CA: "
            f"{'yes' if in_bundle else 'NO'}"
        )
        if not in_bundle:
            problems.append("the live caBundle does not trust the active CA")
    if args.endpoint:
        problems += _endpoint_status(args.endpoint, trusted, now)
    return _report(problems)


def _local_status(cert_dir: Path, now: datetime) -> int:
    ca_certs = generate.load_certs((cert_dir / "ca.crt").read_bytes(), what="ca.crt")
    leaf = generate.load_cert((cert_dir / "tls.crt").read_bytes(), what="tls.crt")
    for ca in ca_certs:
        print(_describe("CA", ca, now))
    print(_describe("leaf", leaf, now))
    trusted = any(generate.issued_by(leaf, ca) for ca in ca_certs)
    print(f"ca.crt trusts the leaf: {'yes' if trusted else 'NO'}")
    problems = [] if trusted else ["tls.crt is not signed by a CA in ca.crt"]
    if leaf.not_valid_after_utc <= now:
        problems.append(f"the leaf in tls.crt (serial {leaf.serial_number:x}) has expired")
    for ca in ca_certs:
        if ca.not_valid_after_utc <= now:
            problems.append(
                f"the CA in ca.crt with serial {ca.serial_number:x} "
                f"({ca.subject.rfc4514_string()}) has expired"
            )
    return _report(problems)


def _endpoint_status(
    endpoint: str, trusted: Sequence[x509.Certificate], now: datetime
) -> list[str]:
    host, _, port = endpoint.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # we verify below
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    if der is None:
        return [f"{endpoint} presented no certificate"]
    leaf = x509.load_der_x509_certificate(der)
    print(_describe("leaf", leaf, now))
    ok = any(generate.issued_by(leaf, ca) for ca in trusted)
    print(f"caBundle trusts the leaf served by {endpoint}: {'yes' if ok else 'NO'}")
    return [] if ok else [f"the leaf served by {endpoint} is not trusted by the live caBundle"]


def _describe(kind: str, cert: x509.Certificate, now: datetime) -> str:
    left = cert.not_valid_after_utc - now
    days = left.total_seconds() / 86400
    due = (
        policy.ca_needs_rotation(cert, now)
        if kind == "CA"
        else policy.leaf_needs_renewal(cert, now)
    )
    state = "EXPIRED" if days <= 0 else f"expires in {days:.1f} days"
    return (
        f"{kind}: serial {cert.serial_number:x}, {cert.subject.rfc4514_string()}, "
        f"notAfter {cert.not_valid_after_utc.isoformat()} ({state}"
        f"{', renewal due' if due and days > 0 else ''})"
    )


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0
