"""Command line of ``sidecar-init``: every ``istio-iptables`` flag, its environment binding, ours.

Precedence is Istio's: an explicit flag beats the environment, which beats the default. Each
flag's environment variable is its long name upper-cased with ``-`` turned into ``_``
(``--envoy-port`` alone has none); a few flags also honour a legacy variable, listed after the
primary one. ``istio-iptables`` as the first word is accepted, so the injected init container
arguments work unchanged. :func:`parse_flags` returns raw strings and booleans; turning them
into validated values is :mod:`init.config`'s job.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from init.errors import ConfigError, describe_exit_codes

LEADING_WORD = "istio-iptables"
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})

DESCRIPTION = """\
Install the traffic capture rules of an Istio sidecar in the current network namespace
(istio-iptables' flags and rule sets), or check them with --run-validation. The flow is:
flags -> validated config -> a plan of rules -> a backend (iptables-restore, python-iptables
or native nftables) -> one atomic apply, serialised on the xtables lock."""

ENVIRONMENT = """\
environment:
  Every flag but --envoy-port and the --log_* flags also reads the variable named after it
  (--proxy-uid: PROXY_UID), but --backend, --ipv6 and --resolv-conf read
  SIDECAR_INIT_BACKEND, SIDECAR_INIT_IPV6 and SIDECAR_INIT_RESOLV_CONF; older names come
  next: ISTIO_META_DNS_CAPTURE (--redirect-dns), INVALID_DROP (--drop-invalid),
  ISTIO_DUAL_STACK and ISTIO_AGENT_DUAL_STACK (--dual-stack). The flag wins. Besides:
  ISTIO_OUTBOUND_OWNER_GROUPS           groups whose outbound traffic is captured ('*')
  ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE   groups whose outbound traffic is not captured
  ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR     the IPv4 loopback CIDR (127.0.0.1/32)
  ENVOY_USER                            proxy user name when -u is not given (istio-proxy)
  DRY_RUN_FILE_PATH                     with --dry-run, also write the rules to this file
  XTABLES_LOCKFILE                      the lock serialising rule changes (/run/xtables.lock)"""


@dataclass(frozen=True)
class FlagSpec:
    """One flag: long name, optional short name, default (a bool for switches), environment."""

    long: str
    short: str | None = None
    default: str | bool = ""
    help: str = ""
    envs: tuple[str, ...] | None = None  # None: the derived name; (): no environment binding

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


F = FlagSpec
FLAGS: tuple[FlagSpec, ...] = (
    F("envoy-port", "p", "15001", "outbound capture port", envs=()),
    F("inbound-capture-port", "z", "15006", "inbound capture port"),
    F("inbound-tunnel-port", "e", "15008", "HBONE tunnel port, never captured"),
    F("proxy-uid", "u", "", "uids whose traffic bypasses capture (comma list; default: the uid of $ENVOY_USER, else 1337)"),  # noqa: E501
    F("proxy-gid", "g", "", "gids whose traffic bypasses capture (default: the uids)"),
    F("istio-inbound-interception-mode", "m", "", "REDIRECT (default) or TPROXY"),
    F("istio-inbound-ports", "b", "", "inbound ports to capture, '*' for all"),
    F("istio-local-exclude-ports", "d", "", "inbound ports to skip with -b '*'"),
    F("istio-exclude-interfaces", "c", "", "interfaces never captured"),
    F("istio-service-cidr", "i", "", "outbound CIDRs to capture, '*' for all"),
    F("istio-service-exclude-cidr", "x", "", "outbound CIDRs to skip"),
    F("istio-outbound-ports", "q", "", "outbound ports always captured"),
    F("istio-local-outbound-ports-exclude", "o", "", "outbound ports to skip"),
    F("kube-virt-interfaces", "k", "", "interfaces whose inbound is treated as outbound"),
    F("istio-inbound-tproxy-mark", "t", "1337", "fwmark of TPROXY mode"),
    F("istio-inbound-tproxy-route-table", "r", "133", "route table of TPROXY mode"),
    F("dry-run", "n", False, "print the iptables-restore text per IP family, apply nothing"),
    F("iptables-probe-port", None, "15002", "port the validation client dials"),
    F("probe-timeout", None, "5s", "validation timeout (Go duration, e.g. 5s)"),
    F("skip-rule-apply", None, False, "apply no rules (with --run-validation: CNI mode)"),
    F("run-validation", None, False, "prove that connections are redirected to the proxy"),
    F("redirect-dns", None, False, "capture DNS to the resolv.conf nameservers", envs=("REDIRECT_DNS", "ISTIO_META_DNS_CAPTURE")),  # noqa: E501
    F("capture-all-dns", None, False, "capture DNS to any server (with --redirect-dns)"),
    F("drop-invalid", None, False, "drop packets conntrack finds INVALID", envs=("DROP_INVALID", "INVALID_DROP")),  # noqa: E501
    F("dual-stack", None, False, "IPv6 rules when the pod has any IPv6 address", envs=("DUAL_STACK", "ISTIO_DUAL_STACK", "ISTIO_AGENT_DUAL_STACK")),  # noqa: E501
    F("network-namespace", None, "", "CNI mode netns (not supported: run inside the netns)"),
    F("cni-mode", None, False, "CNI host-filesystem mode (not supported)"),
    F("reconcile", None, False, "on drift, remove our rules and apply again"),
    F("cleanup-only", None, False, "remove our chains and jumps, nothing else"),
    F("force-apply", None, False, "remove our rules and apply again even if equivalent"),
    F("native-nftables", None, False, "apply with the native nftables backend (--backend nft)"),
    F("force-iptables-binary", None, "", "legacy or nft: the iptables variant to use"),
    # Ours, beyond istio-iptables.
    F("backend", None, "auto", "auto, restore, iptc or nft (see the README)", envs=("SIDECAR_INIT_BACKEND",)),  # noqa: E501
    F("ipv6", None, "auto", "IPv6 rules: auto (detect), on or off", envs=("SIDECAR_INIT_IPV6",)),
    F("resolv-conf", None, "/etc/resolv.conf", "where --redirect-dns reads the nameservers", envs=("SIDECAR_INIT_RESOLV_CONF",)),  # noqa: E501
    # Istio's logging flags.
    F("log_output_level", None, "default:info", "debug, info, warn, error or none (scope:level list)", envs=()),  # noqa: E501
    F("log_as_json", None, False, "log JSON lines", envs=()),
    F("log_caller", None, "", "accepted for Istio compatibility; ignored", envs=()),
    F("log_stacktrace_level", None, "", "accepted for Istio compatibility; ignored", envs=()),
    F("log_target", None, "stderr", "stderr, stdout or a file path", envs=()),
)  # fmt: skip


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ConfigError(message)


class _Version(argparse.Action):
    """``--version``: the installed package's version (looked up only when asked)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("sidecar-injector")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        print(f"sidecar-init {number}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The parser of every flag; ``--help`` lists them with the exit codes and environment."""
    parser = _Parser(
        prog="sidecar-init",
        description=DESCRIPTION,
        epilog=f"{describe_exit_codes()}\n\n{ENVIRONMENT}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    for spec in FLAGS:
        names = [f"--{spec.long}"] + ([f"-{spec.short}"] if spec.short else [])
        if spec.is_bool:
            parser.add_argument(*names, dest=spec.dest, nargs="?", const="true", help=spec.help)
        else:
            parser.add_argument(*names, dest=spec.dest, metavar="VALUE", help=spec.help)
    return parser


def _resolve(spec: FlagSpec, given: str | None, environ: Mapping[str, str]) -> tuple[object, str]:
    raw, source = given, f"--{spec.long}"
    if raw is None:
        name = next((n for n in spec.env_names if n in environ), None)
        if name is None:
            return spec.default, source
        raw, source = environ[name], f"${name}"
    if spec.is_bool:
        return parse_bool(raw, source), source
    return raw, source


def parse_flags(argv: Sequence[str], environ: Mapping[str, str]) -> FlagValues:
    """Parse ``argv`` (without the program name) with ``environ`` as the fallback."""
    args = list(argv)
    if args and args[0] == LEADING_WORD:
        args = args[1:]
    given = vars(build_parser().parse_args(args))
    values: dict[str, str | bool] = {}
    sources: dict[str, str] = {}
    for spec in FLAGS:
        value, source = _resolve(spec, given.get(spec.dest), environ)
        assert isinstance(value, str | bool)
        values[spec.dest], sources[spec.dest] = value, source
    return FlagValues(values, sources)
