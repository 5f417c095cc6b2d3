"""Validated configuration: raw flag values in, frozen dataclasses out.

:func:`build_config` checks every value (ports, CIDRs, uids, interfaces, owner groups, the
loopback CIDR) and reports *all* problems in one :class:`~init.errors.ConfigError`, each naming
the flag (or environment variable) and the bad value. User and group names must exist on this
system unless the run only prints rules (``--dry-run``). Nothing is silently dropped: values
that Istio ignores in some combinations are logged as warnings.
"""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from init import host
from init import values as v
from init.flags import FlagValues
from init.values import WILDCARD, Networks, Problems

logger = logging.getLogger(__name__)

Family: TypeAlias = Literal[4, 6]
Backend: TypeAlias = Literal["auto", "restore", "iptc", "nft"]
Binary: TypeAlias = Literal["", "legacy", "nft"]
BACKENDS: tuple[Backend, ...] = ("auto", "restore", "iptc", "nft")
DEFAULT_PROXY_UID = "1337"
DEFAULT_LOOPBACK_CIDR = "127.0.0.1/32"
MAX_OWNER_GROUPS = 64
LOOPBACK_CIDR_ENV = "ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"
OWNER_GROUPS_ENV = "ISTIO_OUTBOUND_OWNER_GROUPS"
OWNER_GROUPS_EXCLUDE_ENV = "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE"


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


def _owner_groups(p: Problems, environ: Mapping[str, str]) -> OwnerGroups:
    include = environ.get(OWNER_GROUPS_ENV, WILDCARD).strip()
    exclude = environ.get(OWNER_GROUPS_EXCLUDE_ENV, "")
    if include == WILDCARD:
        return OwnerGroups(True, v.ids(p, f"${OWNER_GROUPS_EXCLUDE_ENV}", exclude, "group"))
    groups = v.ids(p, f"${OWNER_GROUPS_ENV}", include, "group")
    if not groups:
        p.add(f"${OWNER_GROUPS_ENV}", include, "empty: use '*' to capture every group")
    if len(groups) > MAX_OWNER_GROUPS:
        p.add(f"${OWNER_GROUPS_ENV}", include, f"more than {MAX_OWNER_GROUPS} groups")
    if v.split_list(exclude):
        logger.warning("%s is ignored unless %s is '*'", OWNER_GROUPS_EXCLUDE_ENV, OWNER_GROUPS_ENV)
    return OwnerGroups(False, groups)


def _proxy_uids(p: Problems, environ: Mapping[str, str]) -> tuple[str, ...]:
    text, source = p.text("proxy_uid")
    if text.strip():
        return v.ids(p, source, text, "uid")
    try:
        return (str(pwd.getpwnam(environ.get("ENVOY_USER", "istio-proxy")).pw_uid),)
    except KeyError:
        return (DEFAULT_PROXY_UID,)


def _mode(p: Problems) -> bool:
    text, source = p.text("istio_inbound_interception_mode")
    if text not in ("", "REDIRECT", "TPROXY"):
        p.add(source, text, "use REDIRECT or TPROXY")
    return text == "TPROXY"


def _dns(p: Problems, capture_all: bool) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    if not p.flags.flag("redirect_dns") or capture_all:
        return p.flags.flag("redirect_dns"), (), ()
    path, source = p.text("resolv_conf")
    try:
        v4, v6 = host.read_nameservers(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        p.add(source, path, f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        return False, (), ()
    if not v4 and not v6:
        logger.warning("--redirect-dns is set but %s lists no nameserver: DNS capture off", path)
        return False, (), ()
    return True, v4, v6


def _ipv6(p: Problems, detect: Callable[[bool], bool]) -> bool:
    text, source = p.text("ipv6")
    if text in ("on", "off"):
        return text == "on"
    if text != "auto":
        p.add(source, text, "use auto, on or off")
        return False
    return detect(p.flags.flag("dual_stack"))


def _capture(
    p: Problems, environ: Mapping[str, str], detect: Callable[[bool], bool]
) -> CaptureConfig:
    uids = _proxy_uids(p, environ)
    gid_text, gid_source = p.text("proxy_gid")
    gids = v.ids(p, gid_source, gid_text, "gid") if gid_text.strip() else uids
    inbound_all, inbound_ports = v.ports(p, "istio_inbound_ports", allow_wildcard=True)
    capture_all_dns = p.flags.flag("capture_all_dns")
    redirect_dns, dns_v4, dns_v6 = _dns(p, capture_all_dns)
    loopback = environ.get(LOOPBACK_CIDR_ENV, DEFAULT_LOOPBACK_CIDR)
    return CaptureConfig(
        proxy_port=v.port_flag(p, "envoy_port"),
        inbound_capture_port=v.port_flag(p, "inbound_capture_port"),
        inbound_tunnel_port=v.port_flag(p, "inbound_tunnel_port"),
        proxy_uids=uids,
        proxy_gids=gids,
        tproxy=_mode(p),
        tproxy_mark=v.number(p, "istio_inbound_tproxy_mark", 1, 2**32 - 1),
        tproxy_route_table=v.number(p, "istio_inbound_tproxy_route_table", 1, 2**32 - 1),
        inbound_all=inbound_all,
        inbound_ports=inbound_ports,
        inbound_exclude_ports=v.ports(p, "istio_local_exclude_ports")[1],
        exclude_interfaces=v.interfaces(p, "istio_exclude_interfaces"),
        outbound_include=v.networks(p, "istio_service_cidr", allow_wildcard=True),
        outbound_exclude=v.networks(p, "istio_service_exclude_cidr", allow_wildcard=False),
        outbound_ports=v.ports(p, "istio_outbound_ports")[1],
        outbound_exclude_ports=v.ports(p, "istio_local_outbound_ports_exclude")[1],
        kube_virt_interfaces=v.interfaces(p, "kube_virt_interfaces"),
        redirect_dns=redirect_dns,
        capture_all_dns=capture_all_dns,
        dns_servers_v4=dns_v4,
        dns_servers_v6=dns_v6,
        drop_invalid=p.flags.flag("drop_invalid"),
        owner_groups=_owner_groups(p, environ),
        loopback_cidr_v4=v.loopback_cidr(p, f"${LOOPBACK_CIDR_ENV}", loopback),
        ipv6=_ipv6(p, detect),
    )


def _unsupported(p: Problems) -> None:
    if p.flags.flag("cni_mode"):
        why = "CNI mode is not supported; run sidecar-init inside the pod netns"
        p.add(p.flags.source("cni_mode"), "true", why)
    text, source = p.text("network_namespace")
    if text:
        p.add(source, text, "not supported; run sidecar-init inside the netns (e.g. ip netns exec)")


def _backend(p: Problems) -> Backend:
    backend: Backend = v.choice(p, "backend", BACKENDS)  # type: ignore[assignment]
    if not p.flags.flag("native_nftables"):
        return backend
    if backend not in ("auto", "nft"):
        p.add(p.flags.source("backend"), backend, "conflicts with --native-nftables")
    return "nft"


def _run_options(p: Problems, environ: Mapping[str, str]) -> RunOptions:
    _unsupported(p)
    return RunOptions(
        dry_run=p.flags.flag("dry_run"),
        dry_run_file=environ.get("DRY_RUN_FILE_PATH") or None,
        skip_rule_apply=p.flags.flag("skip_rule_apply"),
        run_validation=p.flags.flag("run_validation"),
        reconcile=p.flags.flag("reconcile"),
        cleanup_only=p.flags.flag("cleanup_only"),
        force_apply=p.flags.flag("force_apply"),
        backend=_backend(p),
        binary=v.choice(p, "force_iptables_binary", ("", "legacy", "nft")),  # type: ignore[arg-type]
        probe_port=v.port_flag(p, "iptables_probe_port"),
        probe_timeout=v.duration(p, "probe_timeout"),
    )


def _check_owner_names(p: Problems, config: CaptureConfig) -> None:
    """Names the rules (or the validation client) use must exist here: refused before applying."""
    owners = [("proxy_uid", u, "uid") for u in config.proxy_uids]
    owners += [("proxy_gid" if p.text("proxy_gid")[0].strip() else "proxy_uid", g, "gid")
               for g in config.proxy_gids]  # fmt: skip
    env = OWNER_GROUPS_EXCLUDE_ENV if config.owner_groups.include_all else OWNER_GROUPS_ENV
    for name, kind in [(g, "gid") for g in config.owner_groups.groups]:
        if host.owner_id(name, kind) is None:  # type: ignore[arg-type]
            p.add(f"${env}", name, "no such group on this system")
    for dest, name, kind in owners:
        if host.owner_id(name, kind) is None:  # type: ignore[arg-type]
            what = "user" if kind == "uid" else "group"
            p.add(p.flags.source(dest), name, f"no such {what} on this system; give a number")


def build_config(
    flags: FlagValues,
    environ: Mapping[str, str] | None = None,
    detect_ipv6: Callable[[bool], bool] = host.pod_has_ipv6,
) -> tuple[CaptureConfig, RunOptions]:
    """Validate every value; raise one ConfigError listing all problems."""
    env = os.environ if environ is None else environ
    problems = Problems(flags)
    options = _run_options(problems, env)
    capture = _capture(problems, env, detect_ipv6)
    if not options.dry_run:
        _check_owner_names(problems, capture)
    problems.raise_if_any()
    if capture.inbound_exclude_ports and not capture.inbound_all:
        logger.warning("--istio-local-exclude-ports is ignored unless --istio-inbound-ports is '*'")
    return capture, options
