"""The capture rule set as data: :func:`build_plan` turns a config into ordered rules per family.

Pure functions only. The order of calls below is the order of ``istio-iptables`` (the goldens
in ``tests/testdata/iptables`` pin it): within a table, rules are applied in plan order, and an
insert (``position`` set) is applied at that point of the sequence, as ``iptables-restore`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from init.config import CaptureConfig, Family

Table: TypeAlias = Literal["filter", "mangle", "nat", "raw"]

TABLE_ORDER: tuple[Table, ...] = ("filter", "mangle", "nat", "raw")
BUILTIN_CHAINS = frozenset({"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"})
CHAIN_PREFIX = "ISTIO_"

INBOUND, REDIRECT, IN_REDIRECT = "ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT"
OUTPUT, OUTPUT_DNS, DROP = "ISTIO_OUTPUT", "ISTIO_OUTPUT_DNS", "ISTIO_DROP"
DIVERT, TPROXY = "ISTIO_DIVERT", "ISTIO_TPROXY"

DNS_PORT = "53"
AGENT_DNS_PORT = "15053"
OUTBOUND_MARK = "1338"
INBOUND_PASSTHROUGH_SOURCE: dict[Family, str] = {4: "127.0.0.6/32", 6: "::6/128"}
HOST_PREFIX: dict[Family, str] = {4: "/32", 6: "/128"}
_ZONE1, _ZONE2 = ("-j", "CT", "--zone", "1"), ("-j", "CT", "--zone", "2")


@dataclass(frozen=True)
class Rule:
    """One rule: ``-A chain spec`` when ``position`` is None, else ``-I chain position spec``."""

    table: Table
    chain: str
    spec: tuple[str, ...]
    position: int | None = None

    @property
    def target(self) -> str | None:
        """The ``-j`` target, if any."""
        return next((self.spec[i + 1] for i, t in enumerate(self.spec[:-1]) if t == "-j"), None)

    def command(self) -> str:
        """The rule as an iptables-restore line."""
        head = f"-A {self.chain}" if self.position is None else f"-I {self.chain} {self.position}"
        return " ".join((head, *self.spec))


@dataclass(frozen=True)
class Plan:
    """The ordered rules of one IP family."""

    family: Family
    rules: tuple[Rule, ...]

    def tables(self) -> tuple[Table, ...]:
        present = {rule.table for rule in self.rules}
        return tuple(t for t in TABLE_ORDER if t in present)

    def rules_of(self, table: Table) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.table == table)

    def chains_of(self, table: Table) -> tuple[str, ...]:
        """Our chains, in creation order: chains holding rules, then bare jump targets."""
        rules = self.rules_of(table)
        names = [r.chain for r in rules] + [r.target or "" for r in rules]
        seen: dict[str, None] = {}
        for name in names:
            if name.startswith(CHAIN_PREFIX):
                seen.setdefault(name, None)
        return tuple(seen)

    def chain_rules(self, table: Table) -> dict[str, list[Rule]]:
        """Each chain's rules in their final order (inserts placed), our empty chains too."""
        chains: dict[str, list[Rule]] = {name: [] for name in self.chains_of(table)}
        for rule in self.rules_of(table):
            rules = chains.setdefault(rule.chain, [])
            rules.insert(len(rules) if rule.position is None else rule.position - 1, rule)
        return chains


class _Builder:
    """Collects the rules of one family; ``loopback`` replaces 127.0.0.1/32 (or ::1/128)."""

    def __init__(self, config: CaptureConfig, family: Family) -> None:
        self.config = config
        self.family = family
        self.loopback = config.loopback_cidr_v4 if family == 4 else "::1/128"
        self.rules: list[Rule] = []

    def add(self, table: Table, chain: str, *spec: str) -> None:
        self.rules.append(Rule(table, chain, spec))

    def insert(self, table: Table, chain: str, position: int, *spec: str) -> None:
        self.rules.append(Rule(table, chain, spec, position))


def _exclude_interfaces(b: _Builder) -> None:
    tables: tuple[Table, ...] = ("nat", "mangle") if b.config.tproxy else ("nat",)
    for table in tables:
        for nic in b.config.exclude_interfaces:
            b.add(table, "PREROUTING", "-i", nic, "-j", "RETURN")
            b.add(table, "OUTPUT", "-o", nic, "-j", "RETURN")


def _skeleton(b: _Builder) -> None:
    c = b.config
    for nic in c.kube_virt_interfaces:
        b.insert("nat", "PREROUTING", 1, "-i", nic, "-j", "RETURN")
    if c.drop_invalid:
        b.add("mangle", "PREROUTING", "-m", "conntrack", "--ctstate", "INVALID", "-j", DROP)
        b.add("mangle", DROP, "-j", "DROP")
    b.add("nat", INBOUND, "-p", "tcp", "--dport", str(c.inbound_tunnel_port), "-j", "RETURN")
    b.add("nat", REDIRECT, "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(c.proxy_port))
    redirect_in = ("-j", "REDIRECT", "--to-ports", str(c.inbound_capture_port))
    b.add("nat", IN_REDIRECT, "-p", "tcp", *redirect_in)


def _tproxy_chains(b: _Builder) -> None:
    c = b.config
    b.add("mangle", DIVERT, "-j", "MARK", "--set-mark", str(c.tproxy_mark))
    b.add("mangle", DIVERT, "-j", "ACCEPT")
    on = ("--tproxy-mark", f"{c.tproxy_mark}/0xffffffff", "--on-port", str(c.inbound_capture_port))
    b.add("mangle", TPROXY, "!", "-d", b.loopback, "-p", "tcp", "-j", "TPROXY", *on)


def _inbound(b: _Builder) -> None:
    c = b.config
    if not c.inbound_all and not c.inbound_ports:
        return
    if c.tproxy:
        _tproxy_chains(b)
    table: Table = "mangle" if c.tproxy else "nat"
    b.add(table, "PREROUTING", "-p", "tcp", "-j", INBOUND)
    if c.inbound_all:
        for port in c.inbound_exclude_ports:
            b.add(table, INBOUND, "-p", "tcp", "--dport", str(port), "-j", "RETURN")
        _capture_inbound(b, ())
    for port in c.inbound_ports:
        _capture_inbound(b, ("--dport", str(port)))


def _capture_inbound(b: _Builder, match: tuple[str, ...]) -> None:
    if b.config.tproxy:
        established = ("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED")
        b.add("mangle", INBOUND, "-p", "tcp", *match, *established, "-j", DIVERT)
        b.add("mangle", INBOUND, "-p", "tcp", *match, "-j", TPROXY)
    else:
        b.add("nat", INBOUND, "-p", "tcp", *match, "-j", IN_REDIRECT)


def _owner_rules(b: _Builder, option: str, owners: Iterable[str], dns: bool, multi: bool) -> None:
    """The triple per uid (``multi``: multiport when DNS is on) or gid."""
    c = b.config
    tunnel = str(c.inbound_tunnel_port)
    if dns and multi:
        skip_ports: tuple[str, ...] = ("-m", "multiport", "!", "--dports", f"{DNS_PORT},{tunnel}")
    else:
        skip_ports = ("!", "--dport", tunnel)
    not_dns = ("-p", "tcp", "!", "--dport", DNS_PORT) if dns else ()
    for owner in owners:
        hairpin = ("-o", "lo", "!", "-d", b.loopback, "-p", "tcp", *skip_ports)
        b.add("nat", OUTPUT, *hairpin, "-m", "owner", option, owner, "-j", IN_REDIRECT)
        if not c.outbound_include.has_loopback:
            not_owner = ("-m", "owner", "!", option, owner)
            b.add("nat", OUTPUT, "-o", "lo", *not_dns, *not_owner, "-j", "RETURN")
        b.add("nat", OUTPUT, "-m", "owner", option, owner, "-j", "RETURN")


def _owner_groups(b: _Builder) -> None:
    groups = b.config.owner_groups
    if groups.include_all:
        for group in groups.groups:
            b.add("nat", OUTPUT, "-m", "owner", "--gid-owner", group, "-j", "RETURN")
        return
    none_of = [tok for g in groups.groups for tok in ("-m", "owner", "!", "--gid-owner", g)]
    b.add("nat", OUTPUT, *none_of, "-j", "RETURN")


def _servers(b: _Builder) -> tuple[str, ...]:
    c = b.config
    servers = c.dns_servers_v4 if b.family == 4 else c.dns_servers_v6
    return tuple(s + HOST_PREFIX[b.family] for s in servers)


def _dns_nat(b: _Builder) -> None:
    c = b.config
    b.add("raw", "OUTPUT", "-j", OUTPUT_DNS)
    servers = _servers(b)
    if c.capture_all_dns or servers:
        b.add("nat", OUTPUT, "-j", OUTPUT_DNS)
    # TCP then UDP (Istio spells the UDP target --to-port), to any resolver or to each one.
    destinations: tuple[tuple[str, ...], ...] = (
        ((),) if c.capture_all_dns else tuple(("-d", s) for s in servers)
    )
    for protocol, to_ports in (("tcp", "--to-ports"), ("udp", "--to-port")):
        for to in destinations:
            redirect = ("-j", "REDIRECT", to_ports, AGENT_DNS_PORT)
            b.add("nat", OUTPUT_DNS, "-p", protocol, "--dport", DNS_PORT, *to, *redirect)


def _owners(c: CaptureConfig) -> list[tuple[str, str]]:
    """The proxy's owner matches: each uid, then each gid."""
    return [("--uid-owner", u) for u in c.proxy_uids] + [("--gid-owner", g) for g in c.proxy_gids]


def _dns_zones(b: _Builder) -> None:
    """Conntrack zones: agent<->upstream in zone 1, app<->agent in zone 2 (Istio #33572)."""
    c = b.config
    for option, owner in _owners(c):
        mine = ("-m", "owner", option, owner)
        b.add("raw", OUTPUT_DNS, "-p", "udp", "--dport", DNS_PORT, *mine, *_ZONE1)
        b.add("raw", OUTPUT_DNS, "-p", "udp", "--sport", AGENT_DNS_PORT, *mine, *_ZONE2)
    # Queries to any resolver or to each one, and their answers (matched by source).
    peers: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
        (((), ()),) if c.capture_all_dns else tuple((("-d", s), ("-s", s)) for s in _servers(b))
    )
    if peers:
        b.add("raw", "PREROUTING", "-j", INBOUND)
    for to_server, from_server in peers:
        b.add("raw", OUTPUT_DNS, "-p", "udp", "--dport", DNS_PORT, *to_server, *_ZONE2)
        b.add("raw", INBOUND, "-p", "udp", "--sport", DNS_PORT, *from_server, *_ZONE1)


def _outbound(b: _Builder) -> None:
    c = b.config
    b.add("nat", "OUTPUT", "-j", OUTPUT)
    for port in c.outbound_exclude_ports:
        b.add("nat", OUTPUT, "-p", "tcp", "--dport", str(port), "-j", "RETURN")
        b.add("nat", OUTPUT, "-p", "udp", "--dport", str(port), "-j", "RETURN")
    b.add("nat", OUTPUT, "-o", "lo", "-s", INBOUND_PASSTHROUGH_SOURCE[b.family], "-j", "RETURN")
    _owner_rules(b, "--uid-owner", c.proxy_uids, c.redirect_dns, multi=True)
    _owner_rules(b, "--gid-owner", c.proxy_gids, c.redirect_dns, multi=False)
    _owner_groups(b)
    if c.redirect_dns:
        _dns_nat(b)
        _dns_zones(b)
    b.add("nat", OUTPUT, "-d", b.loopback, "-j", "RETURN")
    for cidr in c.outbound_exclude.of(b.family):
        b.add("nat", OUTPUT, "-d", cidr, "-j", "RETURN")
    for port in c.outbound_ports:
        b.add("nat", OUTPUT, "-p", "tcp", "--dport", str(port), "-j", REDIRECT)
    _outbound_include(b)


def _outbound_include(b: _Builder) -> None:
    c = b.config
    if c.outbound_include.wildcard:
        b.add("nat", OUTPUT, "-j", REDIRECT)
        for nic in c.kube_virt_interfaces:
            b.insert("nat", "PREROUTING", 1, "-i", nic, "-j", REDIRECT)
        return
    for cidr in c.outbound_include.of(b.family):
        for nic in c.kube_virt_interfaces:
            b.insert("nat", "PREROUTING", 1, "-i", nic, "-d", cidr, "-j", REDIRECT)
        b.add("nat", OUTPUT, "-d", cidr, "-j", REDIRECT)


def _tproxy_marks(b: _Builder) -> None:
    c = b.config
    mark, lo_out = str(c.tproxy_mark), ("!", "-d", b.loopback, "-p", "tcp", "-o", "lo")
    has_mark = ("-m", "mark", "--mark", mark)
    b.add("mangle", "PREROUTING", "-p", "tcp", *has_mark, "-j", "CONNMARK", "--save-mark")
    b.add("mangle", "OUTPUT", "-p", "tcp", "-o", "lo", *has_mark, "-j", "RETURN")
    for option, owner in _owners(c):
        set_mark = ("-j", "MARK", "--set-mark", OUTBOUND_MARK)
        b.add("mangle", "OUTPUT", *lo_out, "-m", "owner", option, owner, *set_mark)
    restore = ("-m", "connmark", "--mark", mark, "-j", "CONNMARK", "--restore-mark")
    b.add("mangle", "OUTPUT", "-p", "tcp", *restore)
    b.insert("mangle", INBOUND, 1, "-p", "tcp", *has_mark, "-j", "RETURN")
    source = INBOUND_PASSTHROUGH_SOURCE[b.family]
    b.insert("mangle", INBOUND, 2, "-p", "tcp", "-s", source, "-i", "lo", "-j", "RETURN")
    not_outbound = ("-m", "mark", "!", "--mark", OUTBOUND_MARK)
    b.insert("mangle", INBOUND, 3, "-p", "tcp", "-i", "lo", *not_outbound, "-j", "RETURN")


def build_plan(config: CaptureConfig, family: Family) -> Plan:
    """The rules of one family, in Istio's order."""
    b = _Builder(config, family)
    _exclude_interfaces(b)
    _skeleton(b)
    _inbound(b)
    _outbound(b)
    if config.tproxy:
        _tproxy_marks(b)
    return Plan(family, tuple(b.rules))


def build_plans(config: CaptureConfig) -> tuple[Plan, ...]:
    """One plan per enabled family, IPv4 first."""
    return tuple(build_plan(config, family) for family in config.families)
