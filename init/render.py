"""Render a plan as ``iptables-restore`` input, the text Istio's goldens and --dry-run show.

Per table (alphabetical): ``* table``, ``-N`` for each of our chains, the ``-A``/``-I`` lines in
plan order, ``COMMIT``. Tables without rules are left out.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from init.plan import Plan, Table


def table_lines(plan: Plan, table: Table) -> list[str]:
    """The restore lines of one table, without the ``*table`` header and ``COMMIT``."""
    lines = [f"-N {chain}" for chain in plan.chains_of(table)]
    lines.extend(rule.command() for rule in plan.rules_of(table))
    return lines


def to_restore_text(plan: Plan) -> str:
    """The whole restore input of one family (ends with a newline)."""
    out: list[str] = []
    for table in plan.tables():
        out.append(f"* {table}")
        out.extend(table_lines(plan, table))
        out.append("COMMIT")
    return "\n".join(out) + "\n"
