"""``injector``: the command line. ``inject``, ``uninject`` and ``check`` work offline on manifests;
``serve`` runs the admission webhook; ``certs`` manages webhook certificates.

Exit codes: 0 success, 1 an error (one line on stderr, nothing half-written), 2 bad usage;
``inject --diff``/``uninject --diff``: 0 no changes, 1 changes, 2 an error; ``check``: 1 if a
document is bad.
``--log-level`` is accepted anywhere on the command line, for every command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from injector import logs
from injector.errors import InjectorError

if TYPE_CHECKING:  # the injection core is imported by the commands that run it, not by --help
    from injector import clustercheck, sources
    from injector.core import Injector, NamespaceAnnotations
    from injector.manifests import Edit, Report

logger = logging.getLogger(__name__)
LOG_LEVELS = ("debug", "info", "warning", "error")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args_list, level = _pop_log_level(args_list)
        command = next((a for a in args_list if not a.startswith("-")), None)
        if command == "certs":
            return _certs(args_list[args_list.index("certs") + 1 :], level)
        if command == "serve":
            try:
                from injector.webhook import server  # noqa: F401  # FastAPI: the [webhook] extra
            except ImportError as exc:
                return _missing("serve", "webhook", exc)
        args = _parser(command).parse_args(args_list)
        args.log_level = level
        logs.configure(
            level or ("info" if args.command == "serve" else "warning"),
            getattr(args, "log_format", "text"),
        )
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    failure = 2 if getattr(args, "diff", False) else 1
    try:
        code: int = args.handler(args)
    except InjectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return failure
    except BrokenPipeError:  # `injector inject ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return failure
    return code


def _pop_log_level(argv: list[str]) -> tuple[list[str], str | None]:
    """``--log-level X`` (or ``=X``) taken out of ``argv`` wherever it is (before ``--``)."""
    rest, level, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--log-level" or arg.startswith("--log-level="):
            value = (
                arg.partition("=")[2] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
            )
            i += 1 if "=" in arg else 2
            if value not in LOG_LEVELS:
                print(
                    f"injector: error: --log-level: choose from {', '.join(LOG_LEVELS)}",
                    file=sys.stderr,
                )
                raise SystemExit(2)
            level = value
            continue
        rest.append(arg)
        i += 1
    return rest, level


def _certs(argv: list[str], level: str | None) -> int:
    try:
        from certs.cli import main as certs_main  # optional part: cryptography + kubernetes
    except ImportError as exc:
        return _missing("certs", "certs", exc)
    return certs_main((["--log-level", level] if level else []) + argv)


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("sidecar-injector")
        except PackageNotFoundError:
            found = "unknown"
        print(f"injector {found}")
        parser.exit()


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="injector",
        description="Istio-compatible sidecar injection: offline (inject, uninject, check), as an "
        "admission webhook (serve), and its certificates (certs).",
        epilog="--log-level debug|info|warning|error works before or after any command "
        "(default: warning; info for serve).",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inject = commands.add_parser(
        "inject",
        help="inject the sidecar into workloads in manifests",
        epilog="Exit codes: 0 done, 1 an error (nothing written), 2 bad usage; with --diff: "
        "0 no changes, 1 changes, 2 an error. --log-level LEVEL is accepted here too.",
    )
    _input_flags(inject)
    _config_flags(inject)
    inject.add_argument("-o", "--output", help="write here instead of stdout (only on success)")
    inject.add_argument(
        "--diff", action="store_true", help="print a unified diff; exit 1 if anything changes"
    )
    _namespace_flags(inject)
    inject.set_defaults(handler=_inject)
    uninject = commands.add_parser(
        "uninject",
        help="remove what an injection added to workloads in manifests",
        description="Remove what an injection added, as recorded in the pod's "
        "sidecar.istio.io/status annotation: injected containers, volumes and pull secrets, "
        "the labels and annotations set, probe and Prometheus rewrites. What has no record "
        "is named in a warning. Workloads without the annotation are left as they are. "
        "With the configuration the pods were injected with (--values, --mesh, --config), "
        "labels and annotations that re-injection would put back unchanged go too.",
        epilog="Exit codes: 0 done (also when nothing was injected), 1 an error (nothing "
        "written), 2 bad usage; with --diff: 0 no changes, 1 changes, 2 an error. "
        "--log-level LEVEL is accepted here too.",
    )
    _input_flags(uninject)
    _config_flags(uninject)
    uninject.add_argument("-o", "--output", help="write here instead of stdout (only on success)")
    uninject.add_argument(
        "--diff", action="store_true", help="print a unified diff; exit 1 if anything changes"
    )
    uninject.set_defaults(handler=_uninject)
    check = commands.add_parser(
        "check",
        help="say for each workload whether it would be injected, and why",
        epilog="INJECT is yes, no, ns? (decided by the namespace's labels, unknown offline), "
        "error (the document is bad) or - (a kind with a pod template that is not injected). "
        "Exit codes: 0 done, 1 a document is bad or another error, 2 bad usage.",
    )
    _input_flags(check)
    _config_flags(check)
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
    if command == "serve":  # FastAPI is imported only for `serve`
        _serve_flags(serve)
    commands.add_parser(
        "certs", help="webhook certificates: generate, status (see `injector certs -h`)"
    )
    return parser


def _serve_flags(serve: argparse.ArgumentParser) -> None:
    from injector.webhook import server  # type: ignore[attr-defined,unused-ignore]

    server.add_arguments(serve)
    serve.set_defaults(handler=server.run)


def _input_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="manifest file, directory, or - for stdin (repeatable)",
    )
    parser.add_argument(
        "-R", "--recursive", action="store_true", help="read directories given to -f recursively"
    )


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


def _namespace_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace-annotation",
        action="append",
        default=[],
        type=_namespace_annotation,
        metavar="KEY=VALUE",
        help="an OpenShift annotation of every namespace (openshift.io/sa.scc.uid-range or "
        "openshift.io/sa.scc.supplemental-groups): the proxy runs as its range's top ID",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig",
        help="read those annotations of the manifests' namespaces (default: $KUBECONFIG)",
    )
    where.add_argument(
        "--offline", action="store_true", help="do not read the cluster, even with $KUBECONFIG"
    )


def _namespace_annotation(text: str) -> tuple[str, str]:
    from injector.namespaces import parse_flag

    try:
        return parse_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _injector(args: argparse.Namespace, namespaces: NamespaceAnnotations | None = None) -> Injector:
    from injector.config import load_config_files
    from injector.core import Injector

    config = load_config_files(args.config, args.values, args.mesh, native_sidecars=args.native)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return Injector(config, cache_bytes=8 * 2**20, namespaces=namespaces)


def _namespace_lookup(args: argparse.Namespace) -> NamespaceAnnotations | None:
    """``--namespace-annotation`` values over the cluster's (with a kubeconfig)."""
    from injector import namespaces

    flags = dict(args.namespace_annotation)
    if not args.offline and (args.kubeconfig or os.environ.get("KUBECONFIG")):
        from injector.clustercheck import ClusterNamespaces

        return namespaces.Fixed(flags, ClusterNamespaces(args.kubeconfig))
    return namespaces.Fixed(flags) if flags else None


class _Progress:
    """``N documents`` on stderr, refreshed twice a second, for runs longer than a second
    when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.start = self.shown = time.monotonic()
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if not self.enabled or self.count % 50:
            return
        now = time.monotonic()
        if now - self.start > 1 and now - self.shown > 0.5:
            self.shown = now
            print(f"\r{self.count} documents ...", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled and self.shown > self.start:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _inject(args: argparse.Namespace) -> int:
    return _rewrite(args, _injector(args, _namespace_lookup(args)), "injected")


def _uninject(args: argparse.Namespace) -> int:
    from injector import uninject

    configured = args.config or args.values or args.mesh or args.native is not None
    return _rewrite(
        args, uninject.Uninjector(_injector(args) if configured else None), "uninjected"
    )


def _rewrite(args: argparse.Namespace, injector: Injector | Edit, label: str) -> int:
    """``inject`` and ``uninject``: every document through ``injector``, to stdout or ``-o``."""
    from injector import output, sources
    from injector.manifests import process, split_documents
    from injector.textdiff import FileDiff

    inputs = sources.expand(args.filename, recursive=args.recursive)
    progress = _Progress()
    changed = False
    with output.spool() as spooled:
        for n, source in enumerate(inputs):
            diff = FileDiff(source.name, label)
            if n and not args.diff:
                spooled.write("---\n")
            for doc in split_documents(source.lines()):
                reports: list[Report] = []
                try:
                    text = process(doc, injector, reports, inject=True)
                except InjectorError as exc:
                    raise InjectorError(_named(source, inputs, str(exc))) from None
                _notes(reports, source, inputs)
                original = doc.separator + doc.body
                if args.diff:
                    spooled.writelines(diff.document(original, text))
                else:
                    spooled.write(text)
                changed |= text != original
                progress.tick()
        progress.done()
        output.deliver(spooled, None if args.diff else args.output)
    return 1 if args.diff and changed else 0


def _check(args: argparse.Namespace) -> int:
    from injector import clustercheck, sources
    from injector.manifests import process, split_documents
    from injector.verdict import verdict

    injector = _injector(args)
    inputs = sources.expand(args.filename, recursive=args.recursive)
    found: list[tuple[str, Report]] = []
    for source in inputs:
        for doc in split_documents(source.lines()):
            reports: list[Report] = []
            process(doc, injector, reports, inject=False, keep_going=True)
            for report in reports:
                where = report.document if len(inputs) == 1 else f"{source.name}:{report.document}"
                found.append((where, report))
                for warning in report.outcome.warnings if report.outcome else ():
                    print(f"warning: {report.label}: {warning}", file=sys.stderr)
    view = None
    if not args.offline and (args.kubeconfig or os.environ.get("KUBECONFIG")):
        view = clustercheck.fetch(args.kubeconfig, {report.namespace for _, report in found})
    rows = [("DOC", "WORKLOAD", "INJECT", "REASON")]
    bad = False
    for where, report in found:
        inject, reason = verdict(report)
        if view is not None and inject in ("yes", "ns?"):
            inject, reason = _live(view, report, reason)
        bad |= inject == "error"
        rows.append((where, report.label, inject, reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    return 1 if bad else 0


def _live(view: clustercheck.ClusterView, report: Report, reason: str) -> tuple[str, str]:
    """The verdict once the cluster's namespace labels and webhook selectors are known."""
    from injector import clustercheck

    chosen = clustercheck.selection(view, report.namespace, report.labels)
    if chosen.entry is None:
        return "no", chosen.reason
    return "yes", f"{chosen.reason}; {report.outcome.reason if report.outcome else reason}"


def _named(source: sources.Source, inputs: list[sources.Source], message: str) -> str:
    return message if len(inputs) == 1 or source.is_stdin else f"{source.name}: {message}"


def _notes(reports: list[Report], source: sources.Source, inputs: list[sources.Source]) -> None:
    for report in reports:
        where = _named(source, inputs, f"{report.label} (document {report.document})")
        if report.passed_over:
            print(f"passed over {where}: kind {report.kind} is not injected", file=sys.stderr)
            continue
        outcome = report.outcome
        if outcome is None:
            continue
        for warning in outcome.warnings:
            print(
                f"warning: document {report.document} ({report.label}): {warning}", file=sys.stderr
            )
        if not outcome.injected:
            print(f"skipped {where}: {outcome.reason}", file=sys.stderr)


def _missing(command: str, extra: str, exc: ImportError) -> int:
    print(
        f"error: `injector {command}` needs the {extra} extra: "
        f"pip install 'sidecar-injector[{extra}]' ({exc})",
        file=sys.stderr,
    )
    return 1
