"""Command line of ``sidecar-init``: every ``istio-iptables`` flag, its environment binding, ours.

Precedence is Istio's: an explicit flag beats the environment, which beats the default. Each
flag's environment variable is its long name upper-cased with ``-`` turned into ``_``
(``--envoy-port`` alone has none); a few flags also honour a legacy variable, listed after the
primary one. ``istio-iptables`` as the first word is accepted, so the injected init container
arguments work unchanged. :func:`parse_flags` returns raw strings and booleans; turning them
into validated values is :mod:`init.config`'s job.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from init.errors import ConfigError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    import argparse
    from dataclasses import dataclass
else:
    from init.records import dataclass

LEADING_WORD = "istio-iptables"
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


@dataclass(frozen=True)
class FlagSpec:
    """One flag: long name, optional short name, environment variables, default, kind."""

    long: str
    short: str | None = None
    default: str | bool = ""
    envs: tuple[str, ...] | None = None  # None: the derived name; () : no environment binding
    help: str = ""

    @property
    def dest(self) -> str:
        return self.long.replace("-", "_")

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def env_names(self) -> tuple[str, ...]:
        if self.envs is not None:
            return self.envs
        return (self.long.upper().replace("-", "_"),)


def _f(long: str, short: str | None = None, default: str | bool = "", **kw: object) -> FlagSpec:
    return FlagSpec(long, short, default, **kw)  # type: ignore[arg-type]


FLAGS: tuple[FlagSpec, ...] = (
    _f("envoy-port", "p", "15001", envs=(), help="outbound capture port"),
    _f("inbound-capture-port", "z", "15006", help="inbound capture port"),
    _f("inbound-tunnel-port", "e", "15008", help="HBONE tunnel port, never captured"),
    _f("proxy-uid", "u", "", help="uids whose traffic bypasses capture (comma list)"),
    _f("proxy-gid", "g", "", help="gids whose traffic bypasses capture (default: the uids)"),
    _f("istio-inbound-interception-mode", "m", "", help="REDIRECT (default) or TPROXY"),
    _f("istio-inbound-ports", "b", "", help="inbound ports to capture, '*' for all"),
    _f("istio-local-exclude-ports", "d", "", help="inbound ports to skip with -b '*'"),
    _f("istio-exclude-interfaces", "c", "", help="interfaces never captured"),
    _f("istio-service-cidr", "i", "", help="outbound CIDRs to capture, '*' for all"),
    _f("istio-service-exclude-cidr", "x", "", help="outbound CIDRs to skip"),
    _f("istio-outbound-ports", "q", "", help="outbound ports always captured"),
    _f("istio-local-outbound-ports-exclude", "o", "", help="outbound ports to skip"),
    _f("kube-virt-interfaces", "k", "", help="interfaces whose inbound is treated as outbound"),
    _f("istio-inbound-tproxy-mark", "t", "1337", help="fwmark of TPROXY mode"),
    _f("istio-inbound-tproxy-route-table", "r", "133", help="route table of TPROXY mode"),
    _f("dry-run", "n", False, help="print the iptables-restore text per IP family, apply nothing"),
    _f("iptables-probe-port", None, "15002", help="port the validation client dials"),
    _f("probe-timeout", None, "5s", help="validation timeout (Go duration, e.g. 5s)"),
    _f("skip-rule-apply", None, False, help="apply no rules (with --run-validation)"),
    _f("run-validation", None, False, help="prove redirection works after applying"),
    _f("redirect-dns", None, False, envs=("REDIRECT_DNS", "ISTIO_META_DNS_CAPTURE")),
    _f("capture-all-dns", None, False, help="capture :53 to any destination"),
    _f("drop-invalid", None, False, envs=("DROP_INVALID", "INVALID_DROP")),
    _f(
        "dual-stack", None, False, envs=("DUAL_STACK", "ISTIO_DUAL_STACK", "ISTIO_AGENT_DUAL_STACK")
    ),
    _f("network-namespace", None, "", help="CNI mode netns (not supported: run inside the netns)"),
    _f("cni-mode", None, False, help="CNI host-filesystem mode (not supported)"),
    _f("reconcile", None, False, help="on drift, remove our rules and apply again"),
    _f("cleanup-only", None, False, help="remove our chains and jumps, nothing else"),
    _f("force-apply", None, False, help="remove our rules and apply again even if equivalent"),
    _f("native-nftables", None, False, help="native nftables backend (not supported)"),
    _f("force-iptables-binary", None, "", help="legacy or nft"),
    # Ours, beyond istio-iptables.
    _f("backend", None, "auto", envs=("SIDECAR_INIT_BACKEND",), help="auto, iptc or restore"),
    _f("ipv6", None, "auto", envs=("SIDECAR_INIT_IPV6",), help="auto, on or off"),
    _f("resolv-conf", None, "/etc/resolv.conf", envs=("SIDECAR_INIT_RESOLV_CONF",)),
    # Istio's logging flags.
    _f("log_output_level", None, "default:info", envs=()),
    _f("log_as_json", None, False, envs=()),
    _f("log_caller", None, "", envs=()),
    _f("log_stacktrace_level", None, "", envs=()),
    _f("log_target", None, "stderr", envs=()),
)


@dataclass(frozen=True)
class FlagValues:
    """Raw values after precedence, and where each came from (for error messages)."""

    values: Mapping[str, str | bool]
    sources: Mapping[str, str]

    def text(self, dest: str) -> str:
        value = self.values[dest]
        assert isinstance(value, str)
        return value

    def flag(self, dest: str) -> bool:
        return bool(self.values[dest])

    def source(self, dest: str) -> str:
        return self.sources[dest]


def parse_bool(text: str, source: str) -> bool:
    """Go's ``strconv.ParseBool``: 1/t/true and 0/f/false, any case."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{source}: invalid boolean {text!r} (use true or false)")


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil (bz2, lzma, ...)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns


def _build_parser() -> argparse.ArgumentParser:
    """The full parser: --help, and every spelling the fast path leaves to it, with its errors."""
    import argparse
    import functools

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise ConfigError(message)

    # argparse's formatter would import shutil and ask the terminal once per add_argument.
    # (Its own default is the terminal width less 2.)
    formatter = functools.partial(argparse.HelpFormatter, width=terminal_columns() - 2)
    parser = Parser(
        prog="sidecar-init", add_help=True, allow_abbrev=False, formatter_class=formatter
    )
    for spec in FLAGS:
        names = [f"--{spec.long}"] + ([f"-{spec.short}"] if spec.short else [])
        if spec.is_bool:
            parser.add_argument(*names, dest=spec.dest, nargs="?", const="true", help=spec.help)
        else:
            parser.add_argument(*names, dest=spec.dest, help=spec.help)
    return parser


_BY_OPTION = {f"-{s.short}": s for s in FLAGS if s.short} | {f"--{s.long}": s for s in FLAGS}


def fast_parse(args: Sequence[str]) -> dict[str, str] | None:
    """The given flags (dest -> raw text) when every word has a plain spelling, else None.

    Plain: ``--name=value``, ``-x=value``, ``-xvalue``, ``--name value`` or ``-x value`` with
    a value not starting with ``-``, and a bare boolean not followed by a value. argparse
    parses those exactly so (a test compares the two); anything else (``--help``, unknown
    names, a value starting with ``-``, ``--flag true``, ``--``) is left to argparse, which
    costs several milliseconds of the init container's start.
    """
    given: dict[str, str] = {}
    position, count = 0, len(args)
    while position < count:
        word = args[position]
        position += 1
        name, equals, value = word.partition("=")
        spec = _BY_OPTION.get(name)
        if spec is None:  # -xVALUE
            spec = _BY_OPTION.get(word[:2]) if word[1:2] != "-" else None
            if spec is None or spec.is_bool:
                return None
            equals, value = "=", word[2:]
        if spec.is_bool and not equals:
            value = "true"  # a following plain word is refused next round: argparse's value
        elif not equals:
            following = args[position] if position < count else None
            if following is None or following.startswith("-"):
                return None
            value, position = following, position + 1
        given[spec.dest] = value
    return given


def _from_env(spec: FlagSpec, environ: Mapping[str, str]) -> tuple[str, str] | None:
    for name in spec.env_names:
        if name in environ:
            return environ[name], f"${name}"
    return None


def _resolve(spec: FlagSpec, given: str | None, environ: Mapping[str, str]) -> tuple[object, str]:
    flag_source = f"--{spec.long}"
    raw, source = given, flag_source
    if raw is None:
        found = _from_env(spec, environ)
        if found is None:
            return spec.default, flag_source
        raw, source = found
    if spec.is_bool:
        return parse_bool(raw, source), source
    return raw, source


def parse_flags(argv: Sequence[str], environ: Mapping[str, str]) -> FlagValues:
    """Parse ``argv`` (without the program name) with ``environ`` as the fallback."""
    args = list(argv)
    if args and args[0] == LEADING_WORD:
        args = args[1:]
    given = fast_parse(args)
    if given is None:
        given = vars(_build_parser().parse_args(args))
    values: dict[str, str | bool] = {}
    sources: dict[str, str] = {}
    for spec in FLAGS:
        value, source = _resolve(spec, given.get(spec.dest), environ)
        assert isinstance(value, str | bool)
        values[spec.dest], sources[spec.dest] = value, source
    return FlagValues(values, sources)
