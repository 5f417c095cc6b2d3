"""Building and committing a plan with python-iptables (runs in a worker process).

Two steps, so the costly one can run before the caller has decided to apply:

1. :func:`build` turns every rule of the plan into a libiptc entry, through python-iptables'
   parsers and the xtables extensions; nothing reaches the kernel.
2. :func:`commit` stages those entries on a fresh snapshot of each table and commits it once.
   libiptc handles are snapshots, so a commit that finds the table changed (EAGAIN) is retried
   on a new snapshot.

python-iptables comes from :func:`init.iptc_loader.import_iptc`, the only importer of ``iptc``.
"""

from __future__ import annotations

import errno
import functools

from init import log
from init.errors import ApplyError, BackendUnavailableError
from init.state import option_groups

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import Any

    from init.config import Family
    from init.plan import Plan, Rule, Table

logger = log.get_logger(__name__)

ATTEMPTS = 3
_PORT_OPTIONS = frozenset({"--dport", "--sport"})
_SETTERS = {"-p": "protocol", "-s": "src", "-d": "dst", "-i": "in_interface", "-o": "out_interface"}


class Batch:
    """One table of a plan, built: its handle, our chains and each rule's libiptc entry."""

    __slots__ = ("handle", "chains", "entries")

    def __init__(self, handle: Any, chains: tuple[str, ...], entries: list[tuple[Rule, Any]]):
        self.handle = handle
        self.chains = chains
        self.entries = entries


def _new_rule(iptc: Any, family: Family, table: Any) -> Any:
    """A rule whose jump targets are looked up in ``table`` only.

    python-iptables checks a target name against every table of the family, which creates all
    five legacy tables in the netns; restricting it keeps the kernel state to what we use.
    """
    base = iptc.Rule6 if family == 6 else iptc.Rule
    rule = base()
    rule.__class__ = _scoped_class(base, table)
    return rule


@functools.cache
def _scoped_class(base: type, table: Any) -> type:
    """One subclass of ``base`` per table (python-iptables keeps one object per table)."""
    return type("ScopedRule", (base,), {"tables": property(lambda self: [table])})


def build_rule(iptc: Any, family: Family, table: Any, spec: tuple[str, ...]) -> Any:
    """A python-iptables rule from our spec tokens (every option is set, or this raises)."""
    rule = _new_rule(iptc, family, table)
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
    _final_check(rule)
    return rule


def _final_check(rule: Any) -> None:
    """The extensions' final checks, as iptables runs them once every option is parsed.

    python-iptables' ``Rule.final_check`` first reads each match's and target's options back
    through the extension's save function (C stdout swapped for a pipe), resets the module
    and parses them all again: a third of the cost of building a rule, needed only when an
    option is set twice or out of order, which :func:`build_rule` never does. The backend
    equivalence tests compare the committed tables with ``iptables-restore``'s.
    """
    modules = [m for m in (*rule.matches, rule.target) if m is not None]
    if not all(hasattr(m, "_final_check") for m in modules):  # another python-iptables
        rule.final_check()
        return
    for module in modules:
        if module._module:
            module._final_check()


def _entry(iptc: Any, family: Family, handle: Any, rule: Rule) -> Any:
    """The libiptc entry of ``rule``; ApplyError naming the rule when it cannot be built."""
    try:
        # Chain.append_rule/insert_rule would run final_check() again (build_rule did): the
        # table's own calls add this entry without repeating it.
        entry = build_rule(iptc, family, handle, rule.spec).rule
        if not entry:
            raise ValueError("invalid rule")
    except (ValueError, AttributeError, iptc.XTablesError, iptc.IPTCError) as exc:
        raise ApplyError(f"IPv{family} {rule.table}: bad rule {rule.command()!r}: {exc}") from exc
    return entry


def _create_chains(handle: Any, chains: tuple[str, ...]) -> None:
    for chain in chains:
        if not handle.is_chain(chain):
            handle.create_chain(chain)  # staged: autocommit is off


def build(iptc: Any, plan: Plan) -> list[Batch]:
    """Every table of ``plan`` built into entries, on snapshots that are never committed."""
    batches = []
    for table in plan.tables():
        handle = _table(iptc, plan.family, table)
        chains = plan.chains_of(table)
        _create_chains(handle, chains)  # jump targets must name chains the snapshot knows
        entries = [(rule, _entry(iptc, plan.family, handle, rule)) for rule in plan.rules_of(table)]
        batches.append(Batch(handle, chains, entries))
    return batches


def _table(iptc: Any, family: Family, name: Table) -> Any:
    try:
        handle = (iptc.Table6 if family == 6 else iptc.Table)(name)
    except iptc.IPTCError as exc:
        raise BackendUnavailableError(
            f"legacy IPv{family} {name} table unavailable: {exc}"
        ) from exc
    handle.autocommit = False
    return handle


def _stage(family: Family, batch: Batch) -> None:
    handle = batch.handle
    _create_chains(handle, batch.chains)
    for rule, entry in batch.entries:
        if rule.position is None:
            handle.append_entry(rule.chain, entry)
        else:
            handle.insert_entry(rule.chain, entry, rule.position - 1)
        if logger.isEnabledFor(log.DEBUG):
            logger.debug("IPv%d %s: %s", family, rule.table, rule.command())


def commit(iptc: Any, family: Family, batches: list[Batch]) -> None:
    """Commit each table once, in plan order, on a fresh snapshot; retry on EAGAIN."""
    for batch in batches:
        _commit_table(iptc, family, batch)


def _commit_table(iptc: Any, family: Family, batch: Batch) -> None:
    handle = batch.handle
    try:
        for attempt in range(1, ATTEMPTS + 1):
            handle.refresh()  # a snapshot taken now: what the commit replaces
            _stage(family, batch)
            try:
                handle.commit()
                return
            except iptc.IPTCError as exc:
                if _errno(exc) != errno.EAGAIN or attempt == ATTEMPTS:
                    raise ApplyError(f"IPv{family} {handle.name}: commit failed: {exc}") from exc
                logger.info("IPv%d %s changed under us (EAGAIN); retrying", family, handle.name)
    except BaseException:
        handle.refresh()  # drop whatever was staged and not committed
        raise


def _errno(exc: Exception) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    return errno.EAGAIN if "temporarily unavailable" in str(exc) else None
