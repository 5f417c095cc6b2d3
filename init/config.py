"""Validated configuration: raw flag values in, frozen dataclasses out.

:func:`build_config` checks every value (ports, CIDRs, uids, interfaces, owner groups, the
loopback CIDR) and reports *all* problems in one :class:`~init.errors.ConfigError`, each naming
the flag (or environment variable) and the bad value. Nothing is silently dropped: values that
Istio ignores in some combinations are logged as warnings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from init import host, log
from init.errors import ConfigError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Literal, TypeAlias

    from init.flags import FlagValues

    Family: TypeAlias = Literal[4, 6]
    Backend: TypeAlias = Literal["auto", "iptc", "restore"]
    Binary: TypeAlias = Literal["", "legacy", "nft"]
else:
    from init.records import dataclass, field

logger = log.get_logger(__name__)

WILDCARD = "*"
DEFAULT_PROXY_UID = "1337"
DEFAULT_LOOPBACK_CIDR = "127.0.0.1/32"
MAX_OWNER_GROUPS = 64
LOOPBACK_CIDR_ENV = "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"
OWNER_GROUPS_ENV = "ISTIO_OUTBOUND_OWNER_GROUPS"
OWNER_GROUPS_EXCLUDE_ENV = "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE"
_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$"  # patterns compiled (and cached) by re on first use
_IFNAME = r"^[A-Za-z0-9_.@+-]{1,15}$"
_DURATION = r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)"
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Networks:
    """A CIDR list split per IP family; ``wildcard`` stands for ``*`` (everything)."""

    wildcard: bool = False
    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()

    def of(self, family: Family) -> tuple[str, ...]:
        return self.v4 if family == 4 else self.v6

    @property
    def has_loopback(self) -> bool:
        cidrs = self.v4 + self.v6
        if not cidrs:
            return False
        import ipaddress

        return any(ipaddress.ip_interface(c).ip.is_loopback for c in cidrs)


@dataclass(frozen=True)
class OwnerGroups:
    """``include_all``: capture every group except ``groups``; else capture only ``groups``."""

    include_all: bool = True
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptureConfig:
    """Everything that decides the rule set."""

    proxy_port: int = 15001
    inbound_capture_port: int = 15006
    inbound_tunnel_port: int = 15008
    proxy_uids: tuple[str, ...] = (DEFAULT_PROXY_UID,)
    proxy_gids: tuple[str, ...] = (DEFAULT_PROXY_UID,)
    tproxy: bool = False
    tproxy_mark: int = 1337
    tproxy_route_table: int = 133
    inbound_all: bool = False
    inbound_ports: tuple[int, ...] = ()
    inbound_exclude_ports: tuple[int, ...] = ()
    exclude_interfaces: tuple[str, ...] = ()
    outbound_include: Networks = field(default_factory=Networks)
    outbound_exclude: Networks = field(default_factory=Networks)
    outbound_ports: tuple[int, ...] = ()
    outbound_exclude_ports: tuple[int, ...] = ()
    kube_virt_interfaces: tuple[str, ...] = ()
    redirect_dns: bool = False
    capture_all_dns: bool = False
    dns_servers_v4: tuple[str, ...] = ()
    dns_servers_v6: tuple[str, ...] = ()
    drop_invalid: bool = False
    owner_groups: OwnerGroups = field(default_factory=OwnerGroups)
    loopback_cidr_v4: str = DEFAULT_LOOPBACK_CIDR
    ipv6: bool = False

    @property
    def families(self) -> tuple[Family, ...]:
        return (4, 6) if self.ipv6 else (4,)


@dataclass(frozen=True)
class RunOptions:
    """Everything that decides what the program does with the rule set."""

    dry_run: bool = False
    dry_run_file: str | None = None
    skip_rule_apply: bool = False
    run_validation: bool = False
    reconcile: bool = False
    cleanup_only: bool = False
    force_apply: bool = False
    backend: Backend = "auto"
    binary: Binary = ""
    probe_port: int = 15002
    probe_timeout: float = 5.0


class _Problems:
    """Collects every validation problem, so the user sees them all at once."""

    def __init__(self, flags: FlagValues) -> None:
        self.flags = flags
        self.messages: list[str] = []

    def add(self, source: str, value: str, why: str) -> None:
        self.messages.append(f"{source}={value!r}: {why}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise ConfigError("invalid configuration: " + "; ".join(self.messages))


def split_list(text: str) -> list[str]:
    """Istio's comma list: items trimmed, empty items (``"a,,b,"``) skipped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _port(p: _Problems, source: str, text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    p.add(source, text, "not a port number (1-65535)")
    return 0


def _port_flag(p: _Problems, dest: str) -> int:
    """The one port of flag ``dest`` (-p, -z, -e, --iptables-probe-port)."""
    return _port(p, p.flags.source(dest), p.flags.text(dest))


def _ports(p: _Problems, dest: str, allow_wildcard: bool = False) -> tuple[bool, tuple[int, ...]]:
    text, source = p.flags.text(dest), p.flags.source(dest)
    if allow_wildcard and text.strip() == WILDCARD:
        return True, ()
    return False, tuple(_port(p, source, item) for item in split_list(text))


def _ids(p: _Problems, source: str, text: str, what: str) -> tuple[str, ...]:
    items = split_list(text)
    for item in items:
        numeric = item.isdigit() and int(item) < 2**32 - 1
        if not numeric and not re.match(_NAME, item):
            p.add(source, item, f"not a {what} (a number or a name)")
    return tuple(items)


def _interfaces(p: _Problems, dest: str) -> tuple[str, ...]:
    items = split_list(p.flags.text(dest))
    for item in items:
        if not re.match(_IFNAME, item):
            p.add(p.flags.source(dest), item, "not an interface name (1-15 chars, no '/')")
    return tuple(items)


def _networks(p: _Problems, dest: str, allow_wildcard: bool) -> Networks:
    text, source = p.flags.text(dest), p.flags.source(dest)
    if text.strip() == WILDCARD:
        if not allow_wildcard:
            p.add(source, text, "'*' is not allowed here")
        return Networks(wildcard=allow_wildcard)
    v4: list[str] = []
    v6: list[str] = []
    items = split_list(text)
    if items:
        import ipaddress
    for item in items:
        try:
            cidr = ipaddress.ip_interface(item)
        except ValueError:
            p.add(source, item, "not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)")
            continue
        (v4 if cidr.version == 4 else v6).append(cidr.with_prefixlen)
    return Networks(False, tuple(v4), tuple(v6))


def _number(p: _Problems, dest: str, low: int, high: int) -> int:
    text, source = p.flags.text(dest), p.flags.source(dest)
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    p.add(source, text, f"not a number in {low}-{high}")
    return low


def parse_duration(text: str) -> float | None:
    """A Go duration (``5s``, ``1m30s``, ``500ms``) in seconds, or None when malformed."""
    text = text.strip()
    if text == "0":
        return 0.0
    if text == "5s":  # the default
        return 5.0
    matches = list(re.finditer(_DURATION, text))
    if not matches or "".join(m.group(0) for m in matches) != text:
        return None
    return sum(float(m.group(1)) * _UNITS[m.group(2)] for m in matches)


def _loopback_cidr(p: _Problems, environ: Mapping[str, str]) -> str:
    text = environ.get(LOOPBACK_CIDR_ENV, DEFAULT_LOOPBACK_CIDR)
    if text == DEFAULT_LOOPBACK_CIDR:  # valid, and already in canonical form
        return text
    import ipaddress

    try:
        cidr = ipaddress.ip_interface(text.strip())
    except ValueError:
        p.add(f"${LOOPBACK_CIDR_ENV}", text, "not a CIDR")
        return DEFAULT_LOOPBACK_CIDR
    if cidr.version != 4 or not cidr.ip.is_loopback or not 8 <= cidr.network.prefixlen <= 32:
        p.add(f"${LOOPBACK_CIDR_ENV}", text, "must be an IPv4 loopback CIDR with a /8 to /32 mask")
    return cidr.with_prefixlen


def _owner_groups(p: _Problems, environ: Mapping[str, str]) -> OwnerGroups:
    include = environ.get(OWNER_GROUPS_ENV, WILDCARD).strip()
    exclude = environ.get(OWNER_GROUPS_EXCLUDE_ENV, "")
    if include == WILDCARD:
        return OwnerGroups(True, _ids(p, f"${OWNER_GROUPS_EXCLUDE_ENV}", exclude, "group"))
    groups = _ids(p, f"${OWNER_GROUPS_ENV}", include, "group")
    if not groups:
        p.add(f"${OWNER_GROUPS_ENV}", include, "empty: use '*' to capture every group")
    if len(groups) > MAX_OWNER_GROUPS:
        p.add(f"${OWNER_GROUPS_ENV}", include, f"more than {MAX_OWNER_GROUPS} groups")
    if split_list(exclude):
        logger.warning("%s is ignored unless %s is '*'", OWNER_GROUPS_EXCLUDE_ENV, OWNER_GROUPS_ENV)
    return OwnerGroups(False, groups)


def _proxy_uids(p: _Problems, environ: Mapping[str, str]) -> tuple[str, ...]:
    text = p.flags.text("proxy_uid")
    if text.strip():
        return _ids(p, p.flags.source("proxy_uid"), text, "uid")
    import pwd

    try:
        return (str(pwd.getpwnam(environ.get("ENVOY_USER", "istio-proxy")).pw_uid),)
    except KeyError:
        return (DEFAULT_PROXY_UID,)


def _mode(p: _Problems) -> bool:
    text = p.flags.text("istio_inbound_interception_mode")
    if text not in ("", "REDIRECT", "TPROXY"):
        p.add(p.flags.source("istio_inbound_interception_mode"), text, "use REDIRECT or TPROXY")
    return text == "TPROXY"


def _dns(p: _Problems, capture_all: bool) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    if not p.flags.flag("redirect_dns") or capture_all:
        return p.flags.flag("redirect_dns"), (), ()
    path = p.flags.text("resolv_conf")
    try:
        v4, v6 = host.read_nameservers(path)
    except OSError as exc:
        p.add(p.flags.source("resolv_conf"), path, f"cannot read: {exc.strerror}")
        return False, (), ()
    if not v4 and not v6:
        logger.warning("--redirect-dns is set but %s lists no nameserver: DNS capture off", path)
        return False, (), ()
    return True, v4, v6


def _ipv6(p: _Problems, detect: Callable[[bool], bool]) -> bool:
    text = p.flags.text("ipv6")
    if text in ("on", "off"):
        return text == "on"
    if text != "auto":
        p.add(p.flags.source("ipv6"), text, "use auto, on or off")
        return False
    return detect(p.flags.flag("dual_stack"))


def _capture(
    p: _Problems, environ: Mapping[str, str], detect: Callable[[bool], bool]
) -> CaptureConfig:
    uids = _proxy_uids(p, environ)
    gid_text = p.flags.text("proxy_gid")
    gids = _ids(p, p.flags.source("proxy_gid"), gid_text, "gid") if gid_text.strip() else uids
    inbound_all, inbound_ports = _ports(p, "istio_inbound_ports", allow_wildcard=True)
    capture_all_dns = p.flags.flag("capture_all_dns")
    redirect_dns, dns_v4, dns_v6 = _dns(p, capture_all_dns)
    return CaptureConfig(
        proxy_port=_port_flag(p, "envoy_port"),
        inbound_capture_port=_port_flag(p, "inbound_capture_port"),
        inbound_tunnel_port=_port_flag(p, "inbound_tunnel_port"),
        proxy_uids=uids,
        proxy_gids=gids,
        tproxy=_mode(p),
        tproxy_mark=_number(p, "istio_inbound_tproxy_mark", 1, 2**32 - 1),
        tproxy_route_table=_number(p, "istio_inbound_tproxy_route_table", 1, 2**32 - 1),
        inbound_all=inbound_all,
        inbound_ports=inbound_ports,
        inbound_exclude_ports=_ports(p, "istio_local_exclude_ports")[1],
        exclude_interfaces=_interfaces(p, "istio_exclude_interfaces"),
        outbound_include=_networks(p, "istio_service_cidr", allow_wildcard=True),
        outbound_exclude=_networks(p, "istio_service_exclude_cidr", allow_wildcard=False),
        outbound_ports=_ports(p, "istio_outbound_ports")[1],
        outbound_exclude_ports=_ports(p, "istio_local_outbound_ports_exclude")[1],
        kube_virt_interfaces=_interfaces(p, "kube_virt_interfaces"),
        redirect_dns=redirect_dns,
        capture_all_dns=capture_all_dns,
        dns_servers_v4=dns_v4,
        dns_servers_v6=dns_v6,
        drop_invalid=p.flags.flag("drop_invalid"),
        owner_groups=_owner_groups(p, environ),
        loopback_cidr_v4=_loopback_cidr(p, environ),
        ipv6=_ipv6(p, detect),
    )


def _choice(p: _Problems, dest: str, allowed: tuple[str, ...]) -> str:
    text = p.flags.text(dest)
    if text not in allowed:
        p.add(p.flags.source(dest), text, "use one of " + ", ".join(a or "''" for a in allowed))
        return allowed[0]
    return text


def _unsupported(p: _Problems) -> None:
    for dest, why in (
        ("native_nftables", "native nftables is not supported; use --force-iptables-binary nft"),
        ("cni_mode", "CNI mode is not supported; run sidecar-init inside the pod netns"),
    ):
        if p.flags.flag(dest):
            p.add(p.flags.source(dest), "true", why)
    if p.flags.text("network_namespace"):
        p.add(
            p.flags.source("network_namespace"),
            p.flags.text("network_namespace"),
            "not supported; run sidecar-init inside the netns (e.g. ip netns exec)",
        )


def _run_options(p: _Problems, environ: Mapping[str, str]) -> RunOptions:
    timeout = parse_duration(p.flags.text("probe_timeout"))
    if timeout is None:
        p.add(
            p.flags.source("probe_timeout"),
            p.flags.text("probe_timeout"),
            "not a duration (e.g. 5s)",
        )
    _unsupported(p)
    return RunOptions(
        dry_run=p.flags.flag("dry_run"),
        dry_run_file=environ.get("DRY_RUN_FILE_PATH") or None,
        skip_rule_apply=p.flags.flag("skip_rule_apply"),
        run_validation=p.flags.flag("run_validation"),
        reconcile=p.flags.flag("reconcile"),
        cleanup_only=p.flags.flag("cleanup_only"),
        force_apply=p.flags.flag("force_apply"),
        backend=_choice(p, "backend", ("auto", "iptc", "restore")),  # type: ignore[arg-type]
        binary=_choice(p, "force_iptables_binary", ("", "legacy", "nft")),  # type: ignore[arg-type]
        probe_port=_port_flag(p, "iptables_probe_port"),
        probe_timeout=timeout or 0.0,
    )


def _warn_ignored(config: CaptureConfig) -> None:
    if config.inbound_exclude_ports and not config.inbound_all:
        logger.warning("--istio-local-exclude-ports is ignored unless --istio-inbound-ports is '*'")


def build_config(
    flags: FlagValues,
    environ: Mapping[str, str] | None = None,
    detect_ipv6: Callable[[bool], bool] = host.pod_has_ipv6,
) -> tuple[CaptureConfig, RunOptions]:
    """Validate every value; raise one ConfigError listing all problems."""
    env = os.environ if environ is None else environ
    problems = _Problems(flags)
    options = _run_options(problems, env)
    capture = _capture(problems, env, detect_ipv6)
    problems.raise_if_any()
    _warn_ignored(capture)
    return capture, options
