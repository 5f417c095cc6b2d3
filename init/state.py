"""What is in the kernel now, compared with the plan: ``clean``, ``equivalent`` or ``drift``.

``iptables-save`` prints rules in a canonical form that differs from how we write them (``-m
tcp`` made explicit, marks in hex, options reordered, defaults spelled out). :func:`rule_key`
reduces both spellings to the same key, so comparing a plan with the kernel needs no ``-C``
probe per rule. The module also writes the restore text that removes our chains and jumps
(``--cleanup-only``) or replaces them (``--reconcile``) in one transaction per table.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from init.host import owner_id
from init.plan import BUILTIN_CHAINS, CHAIN_PREFIX, TABLE_ORDER, Plan, Rule, Table

Status: TypeAlias = Literal["clean", "equivalent", "drift"]
RuleKey: TypeAlias = tuple[tuple[str, ...], ...]

_ALIASES = {
    "--protocol": "-p", "--source": "-s", "--destination": "-d", "--in-interface": "-i",
    "--out-interface": "-o", "--jump": "-j", "--match": "-m", "--to-port": "--to-ports",
    "--destination-port": "--dport", "--source-port": "--sport", "--set-mark": "--set-xmark",
}  # fmt: skip
_BASIC = frozenset({"-p", "-s", "-d", "-i", "-o"})
_FULL_MASK = 0xFFFFFFFF
_DEFAULTS = {("--nfmask", "0xffffffff"), ("--ctmask", "0xffffffff"), ("--on-ip", "0.0.0.0"),
             ("--on-ip", "::")}  # fmt: skip


@dataclass
class TableState:
    """Chains of one table in save order; each rule kept as its tokens after the chain name."""

    chains: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)

    def ours(self) -> list[str]:
        return [name for name in self.chains if name.startswith(CHAIN_PREFIX)]


def parse_save(text: str) -> dict[str, TableState]:
    """Parse ``iptables-save`` (or restore) text into tables of chains of rules."""
    tables: dict[str, TableState] = {}
    current = TableState()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), TableState())
        elif line.startswith(":"):
            current.chains.setdefault(line[1:].split()[0], [])
        elif line.startswith(("-A ", "-N ")):
            tokens = shlex.split(line)
            rules = current.chains.setdefault(tokens[1], [])
            if tokens[0] == "-A":
                rules.append(tuple(tokens[2:]))
    return tables


def _number(text: str) -> str:
    value, _, mask = text.partition("/")
    full = int(mask, 0) if mask else _FULL_MASK
    return f"{int(value, 0)}/{full}"


def _owner(option: str, name: str) -> str:
    if name.isascii() and name.isdigit():
        return name
    found = owner_id(name, "uid" if option == "--uid-owner" else "gid")
    return name if found is None else str(found)


def _value(option: str, values: list[str]) -> tuple[str, ...]:
    if option in ("-s", "-d") and values:
        return (str(ipaddress.ip_network(values[0], strict=False)),)
    if option in ("--mark", "--set-xmark", "--tproxy-mark") and values:
        return (_number(values[0]),)
    if option in ("--uid-owner", "--gid-owner") and values:
        return (_owner(option, values[0]),)
    if option == "--ctstate" and values:
        return tuple(sorted(values[0].split(",")))
    return tuple(values)


def option_groups(tokens: Iterable[str]) -> list[tuple[bool, str, list[str]]]:
    """Split a rule spec into (negated, option, values) groups; long option names shortened."""
    groups: list[tuple[bool, str, list[str]]] = []
    negate = False
    for token in tokens:
        if token == "!":
            negate = True
        elif token.startswith("-") and not token.lstrip("-").isdigit():
            groups.append((negate, _ALIASES.get(token, token), []))
            negate = False
        elif groups:
            groups[-1][2].append(token)
    return groups


def rule_key(tokens: Iterable[str]) -> RuleKey:
    """A spelling-independent key of one rule's spec (everything after the chain name)."""
    module, parts = "", []
    for negate, option, values in option_groups(tokens):
        if option == "-p":
            module = values[0] if values else ""
        if option == "-m":
            module = values[0] if values else ""
            continue
        if option == "-j":
            module = f"-j {values[0]}" if values else "-j"
        normal = _value(option, values)
        if (option, " ".join(normal)) in _DEFAULTS:
            continue
        scope = "" if option in _BASIC else module
        parts.append((scope, "!" if negate else "", option, *normal))
    return tuple(sorted(parts))


def expected_state(plan: Plan) -> dict[Table, dict[str, list[RuleKey]]]:
    """The rules each chain should hold after applying ``plan`` (inserts placed)."""
    return {
        table: {chain: [rule_key(r.spec) for r in rules] for chain, rules in chains.items()}
        for table in plan.tables()
        for chains in (plan.chain_rules(table),)
    }


def _is_ours(tokens: tuple[str, ...], planned: set[RuleKey]) -> bool:
    target = next((tokens[i + 1] for i in range(len(tokens) - 1) if tokens[i] in ("-j", "-g")), "")
    return target.startswith(CHAIN_PREFIX) or rule_key(tokens) in planned


def _planned_builtin_keys(plan: Plan, table: Table) -> set[RuleKey]:
    return {rule_key(r.spec) for r in plan.rules_of(table) if r.chain in BUILTIN_CHAINS}


def _found(current: dict[str, TableState], plan: Plan) -> dict[tuple[str, str], list[RuleKey]]:
    found: dict[tuple[str, str], list[RuleKey]] = {}
    for table, have in current.items():
        planned = _planned_builtin_keys(plan, table)  # type: ignore[arg-type]
        for chain, rules in have.chains.items():
            if chain.startswith(CHAIN_PREFIX):
                found[(table, chain)] = [rule_key(t) for t in rules]
            elif chain in BUILTIN_CHAINS:
                keys = [rule_key(t) for t in rules if _is_ours(t, planned)]
                if keys:
                    found[(table, chain)] = keys
    return found


def compare(current: dict[str, TableState], plan: Plan) -> Status:
    """``clean``: none of our chains or rules; ``equivalent``: exactly the plan; else ``drift``."""
    found = _found(current, plan)
    if not found:
        return "clean"
    wanted = {
        (table, chain): keys
        for table, chains in expected_state(plan).items()
        for chain, keys in chains.items()
        if keys or chain.startswith(CHAIN_PREFIX)
    }
    return "equivalent" if found == wanted else "drift"


def removal_lines(have: TableState, plan: Plan, table: Table, keep: Iterable[str]) -> list[str]:
    """Delete our jumps and rules in built-in chains, flush our chains, drop those not kept.

    Rules are deleted by number, highest first, as numbers are exact where re-parsing the saved
    text may not be (python-iptables' entries can differ from the parser's in unprinted flags).
    """
    planned = _planned_builtin_keys(plan, table)
    lines = [
        f"-D {chain} {number}"
        for chain, rules in have.chains.items()
        if chain in BUILTIN_CHAINS
        for number, tokens in reversed(list(enumerate(rules, start=1)))
        if _is_ours(tokens, planned)
    ]
    kept = set(keep)
    lines += [f"-F {chain}" for chain in have.ours()]
    lines += [f"-X {chain}" for chain in have.ours() if chain not in kept]
    return lines


def replace_text(current: dict[str, TableState], plan: Plan, rules: tuple[Rule, ...]) -> str:
    """Restore input (for ``--noflush``) that removes our rules, then adds ``rules`` (may be ())."""
    out: list[str] = []
    for table in TABLE_ORDER:
        have = current.get(table, TableState())
        new = tuple(r for r in rules if r.table == table)
        chains = Plan(plan.family, new).chains_of(table)
        lines = removal_lines(have, plan, table, keep=chains)
        lines += [f"-N {c}" for c in chains if c not in have.chains]
        lines += [r.command() for r in new]
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(out) + "\n" if out else ""
