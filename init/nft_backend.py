"""The native nftables backend: our own ``ip``/``ip6`` tables, replaced in one ``nft -f``.

Every change (apply, replace, cleanup, rollback) is one ``nft -f -`` transaction covering
both IP families: the kernel applies all of it or none. The current state is read with one
``nft list ruleset``; our tables are the ``istio-proxy-*`` ones, compared with the plan by the
fingerprint in their comment and the number of rules in each chain.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from init.config import Family
from init.errors import ApplyError, BackendUnavailableError
from init.plan import Plan
from init.render_nft import (
    HOOKS,
    NFT_FAMILY,
    TABLE_PREFIX,
    fingerprint,
    table_body,
    table_name,
    to_nft_text,
)
from init.restore_backend import read_state, run
from init.state import Status

Key = tuple[str, str]  # (nft family, table name)


@dataclass
class NftTable:
    """One of our tables as listed: its comment, rules per chain, and its text."""

    comment: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def parse_ruleset(text: str) -> dict[Key, NftTable]:
    """Our tables in ``nft list ruleset`` output (other tables are skipped)."""
    tables: dict[Key, NftTable] = {}
    current: NftTable | None = None
    chain = ""
    for line in text.splitlines():
        words = line.split()
        if line.startswith("table ") and len(words) == 4:
            current = None
            if words[2].startswith(TABLE_PREFIX):
                current = tables[(words[1], words[2])] = NftTable()
        if current is None or not words:
            continue
        current.lines.append(line)
        if line == "}":
            current = None
        elif line.startswith("\tcomment "):
            current.comment = line.strip()[len('comment "') : -1]
        elif line.startswith("\tchain "):
            chain = words[1]
            current.counts[chain] = 0
        elif line.startswith("\t\t") and not words[0] == "type":
            current.counts[chain] += 1
    return tables


def expected(plan: Plan) -> dict[Key, tuple[str, dict[str, int]]]:
    """Each planned table's fingerprint and rules per chain, as :func:`parse_ruleset` reads."""
    wanted = {}
    for table in plan.tables():
        chains = plan.chain_rules(table)
        counts = {(c.lower() if (table, c) in HOOKS else c): len(r) for c, r in chains.items()}
        key = (NFT_FAMILY[plan.family], table_name(table))
        wanted[key] = (fingerprint(table_body(plan, table)), counts)
    return wanted


class NftBackend:
    """Applies plans as native nftables tables with the ``nft`` program."""

    name = "nftables"

    def check(self, families: tuple[Family, ...]) -> None:
        if shutil.which("nft") is None:
            raise BackendUnavailableError("nft not found on PATH: install nftables in the image")

    def snapshot(self, plans: tuple[Plan, ...]) -> dict[Key, NftTable]:
        return parse_ruleset(read_state(["nft", "list", "ruleset"]))

    def status(self, snapshot: dict[Key, NftTable], plan: Plan) -> Status:
        family = NFT_FAMILY[plan.family]
        ours = {key: table for key, table in snapshot.items() if key[0] == family}
        if not ours:
            return "clean"
        have = {key: (table.comment, table.counts) for key, table in ours.items()}
        return "equivalent" if have == expected(plan) else "drift"

    def _transaction(self, lines: list[str]) -> None:
        try:
            run(["nft", "-f", "-"], "\n".join(lines) + "\n")
        except ApplyError as exc:
            raise ApplyError(f"nftables transaction refused: {exc}") from exc

    def _deletions(self, snapshot: dict[Key, NftTable], plans: tuple[Plan, ...]) -> list[str]:
        families = {NFT_FAMILY[plan.family] for plan in plans}
        return [f"delete table {f} {name}" for f, name in snapshot if f in families]

    def apply(self, snapshot: dict[Key, NftTable], plans: tuple[Plan, ...]) -> None:
        texts = [to_nft_text(plan) for plan in plans]
        self._transaction(self._deletions(snapshot, plans) + texts)

    def cleanup(self, snapshot: dict[Key, NftTable], plans: tuple[Plan, ...]) -> None:
        lines = self._deletions(snapshot, plans)
        if lines:
            self._transaction(lines)

    def rollback(self, snapshot: dict[Key, NftTable], plans: tuple[Plan, ...]) -> None:
        """Our tables as they were: whatever exists now is deleted, the saved ones re-created."""
        keys = set(snapshot) | {key for plan in plans for key in expected(plan)}
        lines = [
            f"{verb} table {f} {name}" for f, name in sorted(keys) for verb in ("add", "delete")
        ]
        lines += [line for table in snapshot.values() for line in table.lines]
        self._transaction(lines)
