"""Render a plan as a native nftables ruleset: the same capture in tables of our own.

Each iptables table of the plan becomes an ``ip`` (IPv4) or ``ip6`` table named
``istio-proxy-<table>``, whose built-in chains hook where iptables' do, at the same priority;
our chains keep their ``ISTIO_*`` names, and each chain lists its rules in their final order
(``-I`` inserts placed). Each rule is translated one option at a time (:func:`statement`).
A table's comment carries a fingerprint of its rules, which is how the nftables backend tells
"already in place" from "drift". User and group names are written quoted, as nft resolves
them itself when it parses the ruleset: rendering is pure, the same on every machine.
"""

from __future__ import annotations

import hashlib

from init.plan import CHAIN_PREFIX, Plan, Rule, Table
from init.state import option_groups

TABLE_PREFIX = "istio-proxy-"
FINGERPRINT = "sidecar-init "
NFT_FAMILY = {4: "ip", 6: "ip6"}
HOOKS: dict[tuple[str, str], str] = {
    ("nat", "PREROUTING"): "type nat hook prerouting priority dstnat",
    ("nat", "OUTPUT"): "type nat hook output priority -100",
    ("mangle", "PREROUTING"): "type filter hook prerouting priority mangle",
    ("mangle", "OUTPUT"): "type route hook output priority mangle",
    ("raw", "PREROUTING"): "type filter hook prerouting priority raw",
    ("raw", "OUTPUT"): "type filter hook output priority raw",
}
_VERDICTS = {"RETURN": "return", "ACCEPT": "accept", "DROP": "drop"}
_ADDRESS = {"-s": "saddr", "-d": "daddr"}
_INTERFACE = {"-i": "iifname", "-o": "oifname"}
_OWNER = {"--uid-owner": "skuid", "--gid-owner": "skgid"}
_FULL_MASK = 0xFFFFFFFF

Group = tuple[bool, str, list[str]]


class UnsupportedRuleError(ValueError):
    """A rule uses an iptables option that has no translation here."""


def table_name(table: str) -> str:
    return TABLE_PREFIX + table


def _match(family: int, protocol: str, module: str, group: Group) -> str:
    negate, option, values = group
    value, op = ",".join(values), "!= " if negate else ""
    if option in _ADDRESS:
        return f"{NFT_FAMILY[family]} {_ADDRESS[option]} {op}{value}"
    if option in _INTERFACE:
        return f'{_INTERFACE[option]} {op}"{value}"'
    if option in ("--dport", "--sport"):
        return f"{protocol} {option[2:]} {op}{value}"
    if option == "--dports":
        return f"{protocol} dport {op}{{ {', '.join(values[0].split(','))} }}"
    if option in _OWNER:
        owner = value if value.isascii() and value.isdigit() else f'"{value}"'
        return f"meta {_OWNER[option]} {op}{owner}"
    if option == "--ctstate":
        return f"ct state {op}{value.lower()}"
    if option == "--mark":
        return f"{'ct' if module == 'connmark' else 'meta'} mark {op}{value}"
    raise UnsupportedRuleError(f"no nftables translation for {option}")


def _options(groups: list[Group]) -> dict[str, str]:
    return {option: " ".join(values) for _, option, values in groups}


def _target(name: str, groups: list[Group]) -> str:
    options = _options(groups)
    if name in _VERDICTS:
        return _VERDICTS[name]
    if name.startswith(CHAIN_PREFIX):
        return f"jump {name}"
    if name == "REDIRECT":
        return f"redirect to :{options.get('--to-ports') or options['--to-port']}"
    if name == "MARK":
        return f"meta mark set {options['--set-xmark']}"  # option_groups' name for --set-mark
    if name == "CONNMARK" and "--save-mark" in options:
        return "ct mark set meta mark"
    if name == "CONNMARK" and "--restore-mark" in options:
        return "meta mark set ct mark"
    if name == "CT":
        return f"ct zone set {options['--zone']}"
    if name == "TPROXY":
        mark, _, mask = options["--tproxy-mark"].partition("/")
        if mask and int(mask, 0) != _FULL_MASK:
            raise UnsupportedRuleError("TPROXY with a partial mark mask")
        return f"meta mark set {mark} tproxy to :{options['--on-port']} accept"
    raise UnsupportedRuleError(f"no nftables translation for target {name}")


def statement(rule: Rule, family: int) -> str:
    """One rule as an nftables statement (matches, then the verdict or action)."""
    groups = option_groups(rule.spec)
    jump = next((i for i, g in enumerate(groups) if g[1] == "-j"), len(groups))
    parts, protocol, module = [], "", ""
    for group in groups[:jump]:
        if group[1] == "-p":
            protocol = group[2][0]
            parts.append(f"meta l4proto {protocol}")
        elif group[1] == "-m":
            module = group[2][0]
        else:
            parts.append(_match(family, protocol, module, group))
    if jump < len(groups):
        parts.append(_target(groups[jump][2][0], groups[jump + 1 :]))
    return " ".join(parts)


def table_body(plan: Plan, table: Table) -> list[str]:
    """The chains of one table, without the table's header, comment and closing brace."""
    lines: list[str] = []
    for chain, rules in plan.chain_rules(table).items():
        hook = HOOKS.get((table, chain))
        lines.append(f"\tchain {chain.lower() if hook else chain} {{")
        if hook:
            lines.append(f"\t\t{hook}; policy accept;")
        lines += [f"\t\t{statement(rule, plan.family)}" for rule in rules]
        lines.append("\t}")
    return lines


def fingerprint(body: list[str]) -> str:
    return FINGERPRINT + hashlib.sha256("\n".join(body).encode()).hexdigest()[:16]


def table_text(plan: Plan, table: Table) -> str:
    """One table as ``nft -f`` input, its fingerprint as its comment."""
    body = table_body(plan, table)
    header = f"table {NFT_FAMILY[plan.family]} {table_name(table)} {{"
    return "\n".join([header, f'\tcomment "{fingerprint(body)}"', *body, "}"]) + "\n"


def to_nft_text(plan: Plan) -> str:
    """Every table of one family's plan, as ``nft -f`` input."""
    return "".join(table_text(plan, table) for table in plan.tables())
