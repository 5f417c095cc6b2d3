"""Render a plan as python-iptables rules and commit them: the only module that imports ``iptc``.

Each table of the plan is staged on a fresh snapshot (``autocommit`` off) and committed once,
in plan order, so each table changes atomically. libiptc handles are snapshots: a commit that
finds the table changed since (EAGAIN) is retried on a new one. python-iptables keeps global
parser state and one extension registry per process: use it from one thread, and (as
:mod:`init.iptc_backend` does) one process per IP family.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import iptc

from init.config import Family
from init.errors import ApplyError, BackendUnavailableError
from init.plan import Plan, Rule, Table
from init.state import option_groups

logger = logging.getLogger(__name__)

ATTEMPTS = 3
_PORT_OPTIONS = frozenset({"--dport", "--sport"})
_SETTERS = {"-p": "protocol", "-s": "src", "-d": "dst", "-i": "in_interface", "-o": "out_interface"}


def build_rule(family: Family, spec: tuple[str, ...]) -> Any:
    """A python-iptables rule from our spec tokens (every option is set, or this raises)."""
    rule = iptc.Rule6() if family == 6 else iptc.Rule()
    current: Any = None
    protocol_match: Any = None
    for negate, option, values in option_groups(spec):
        value = ("!" if negate else "") + " ".join(values)
        if option in _SETTERS:
            setattr(rule, _SETTERS[option], value)
        elif option == "-m":
            current = rule.create_match(values[0])
        elif option == "-j":
            current = rule.create_target(values[0])
        elif option in _PORT_OPTIONS:
            protocol_match = protocol_match or rule.create_match(rule.protocol)
            protocol_match.parse(option.lstrip("-"), value)
        elif current is None:
            raise ApplyError(f"option {option} outside a match or target in: {' '.join(spec)}")
        else:
            current.parse(option.lstrip("-"), value)
    return rule


def _table(family: Family, name: Table) -> Any:
    try:
        handle = (iptc.Table6 if family == 6 else iptc.Table)(name)
    except iptc.IPTCError as exc:
        raise BackendUnavailableError(
            f"legacy IPv{family} {name} table unavailable: {exc}"
        ) from exc
    handle.autocommit = False
    return handle


def _stage(handle: Any, plan: Plan, table: Table) -> None:
    for chain in plan.chains_of(table):
        if not handle.is_chain(chain):
            handle.create_chain(chain)
    for rule in plan.rules_of(table):
        chain = iptc.Chain(handle, rule.chain)
        try:
            built = build_rule(plan.family, rule.spec)
            if rule.position is None:
                chain.append_rule(built)
            else:
                chain.insert_rule(built, rule.position - 1)
        except (ValueError, AttributeError, iptc.XTablesError, iptc.IPTCError) as exc:
            raise ApplyError(_bad_rule(plan.family, rule, exc)) from exc


def _bad_rule(family: Family, rule: Rule, exc: Exception) -> str:
    return f"IPv{family} {rule.table}: bad rule {rule.command()!r}: {exc}"


def _commit_table(plan: Plan, table: Table) -> None:
    handle = _table(plan.family, table)
    try:
        for attempt in range(1, ATTEMPTS + 1):
            handle.refresh()  # a snapshot taken now: what the commit replaces
            _stage(handle, plan, table)
            try:
                handle.commit()
                return
            except iptc.IPTCError as exc:
                if _errno(exc) != errno.EAGAIN or attempt == ATTEMPTS:
                    raise ApplyError(f"IPv{plan.family} {table}: commit failed: {exc}") from exc
                logger.info("IPv%d %s changed under us (EAGAIN); retrying", plan.family, table)
    finally:
        handle.refresh()  # drop whatever was staged and not committed


def _errno(exc: Exception) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    return errno.EAGAIN if "temporarily unavailable" in str(exc) else None


def commit(plan: Plan) -> None:
    """Commit every table of ``plan``, one table at a time, in plan order."""
    for table in plan.tables():
        _commit_table(plan, table)
