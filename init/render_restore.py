"""Render a plan as ``iptables-restore`` input, the text Istio's goldens and --dry-run show.

Per table (alphabetical): ``* table``, ``-N`` for each of our chains, the ``-A``/``-I`` lines in
plan order, ``COMMIT``. Tables without rules are left out. The same text, fed to
``iptables-restore --noflush``, is what the restore backend applies.
"""

from __future__ import annotations

from init.plan import Plan


def to_restore_text(plan: Plan) -> str:
    """The whole restore input of one family (ends with a newline)."""
    out: list[str] = []
    for table in plan.tables():
        out.append(f"* {table}")
        out.extend(f"-N {chain}" for chain in plan.chains_of(table))
        out.extend(rule.command() for rule in plan.rules_of(table))
        out.append("COMMIT")
    return "\n".join(out) + "\n"
