"""``injector``: the command line. ``inject`` and ``check`` work offline on manifests;
``serve`` runs the admission webhook; ``certs`` manages webhook certificates.

Exit codes: 0 success, 1 an error (one line on stderr, nothing half-written), 2 bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from injector import clustercheck, logs
from injector.config import InjectorConfig, load_config_files
from injector.core import Injector
from injector.errors import InjectorError
from injector.manifests import Report, Result, transform

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["certs"]:
        from certs.cli import main as certs_main  # optional part: cryptography + kubernetes

        return certs_main(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    level = args.log_level or ("info" if args.command == "serve" else "warning")
    logs.configure(level, getattr(args, "log_format", "text"))
    try:
        code: int = args.handler(args)
    except InjectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `injector inject ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="injector",
        description="Istio-compatible sidecar injection: offline (inject, check), as an "
        "admission webhook (serve), and its certificates (certs).",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="default: warning (info for serve)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inject = commands.add_parser("inject", help="inject the sidecar into workloads in a manifest")
    _config_flags(inject)
    inject.add_argument("-f", "--filename", required=True, help="manifest file, or - for stdin")
    inject.add_argument("-o", "--output", help="write here instead of stdout (only on success)")
    inject.add_argument(
        "--diff", action="store_true", help="print a unified diff instead of the output"
    )
    inject.set_defaults(handler=_inject)
    check = commands.add_parser(
        "check", help="say for each workload whether it would be injected, and why"
    )
    _config_flags(check)
    check.add_argument("-f", "--filename", required=True, help="manifest file, or - for stdin")
    where = check.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig",
        help="read namespace labels and the live webhook selectors (default: $KUBECONFIG)",
    )
    where.add_argument(
        "--offline", action="store_true", help="do not read the cluster, even with $KUBECONFIG"
    )
    check.set_defaults(handler=_check)
    serve = commands.add_parser("serve", help="run the admission webhook (HTTPS)")
    try:
        from injector import server  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:  # the [webhook] extra is not installed
        serve.set_defaults(handler=lambda _args, e=exc: _missing("serve", e))
    else:
        server.add_arguments(serve)
        serve.set_defaults(handler=server.run)
    commands.add_parser(
        "certs", help="webhook certificates: generate, status (see `injector certs -h`)"
    )
    return parser


def _config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="injector config (policy, templates, selectors)"
    )
    parser.add_argument(
        "--values", type=Path, help="Istio values (the `values` key of istio-sidecar-injector)"
    )
    parser.add_argument(
        "--mesh", type=Path, help="Istio mesh config (the `mesh` key of the istio ConfigMap)"
    )
    native = parser.add_mutually_exclusive_group()
    native.add_argument(
        "--native-sidecars",
        dest="native",
        action="store_true",
        default=None,
        help="istio-proxy as a native sidecar (init container, restartPolicy: Always)",
    )
    native.add_argument(
        "--no-native-sidecars",
        dest="native",
        action="store_false",
        help="istio-proxy as a regular container (Kubernetes < 1.29)",
    )


def _load(args: argparse.Namespace) -> InjectorConfig:
    config = load_config_files(args.config, args.values, args.mesh, native_sidecars=args.native)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def _read_input(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text()


def _inject(args: argparse.Namespace) -> int:
    text = _read_input(args.filename)
    result = transform(text, Injector(_load(args), cache_size=64))
    _report(result, sys.stderr)
    if args.diff:
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                result.text.splitlines(keepends=True),
                fromfile=args.filename,
                tofile=f"{args.filename} (injected)",
            )
        )
        return 0
    if args.output:
        _write_atomically(Path(args.output), result.text)
    else:
        sys.stdout.write(result.text)
    return 0


def _check(args: argparse.Namespace) -> int:
    result = transform(
        _read_input(args.filename), Injector(_load(args), cache_size=64), inject=False
    )
    view = None
    if not args.offline and (args.kubeconfig or os.environ.get("KUBECONFIG")):
        view = clustercheck.fetch(args.kubeconfig, {r.namespace for r in result.reports})
    else:
        print(f"note: {clustercheck.OFFLINE_NOTE}", file=sys.stderr)
    rows = [("DOC", "WORKLOAD", "INJECT", "REASON")]
    for report in result.reports:
        injected, reason = report.outcome.injected, report.outcome.reason
        if view is not None:
            chosen = clustercheck.selection(view, report.namespace, report.pod_labels)
            if chosen.entry is None:
                injected, reason = False, chosen.reason
            else:
                reason = f"{chosen.reason}; {reason}"
        rows.append((report.document, report.label, "yes" if injected else "no", reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    for report in result.reports:
        for warning in report.outcome.warnings:
            print(f"warning: {report.label}: {warning}", file=sys.stderr)
    return 0


def _report(result: Result, stream: TextIO) -> None:
    for report in result.reports:
        for warning in report.outcome.warnings:
            print(f"warning: document {report.document} ({report.label}): {warning}", file=stream)
        if not report.outcome.injected:
            print(f"skipped {_where(report)}: {report.outcome.reason}", file=stream)


def _where(report: Report) -> str:
    return f"{report.label} (document {report.document})"


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _missing(command: str, exc: ImportError) -> int:
    print(
        f"error: `injector {command}` needs the webhook extra: "
        f"pip install 'sidecar-injector[webhook]' ({exc})",
        file=sys.stderr,
    )
    return 1
