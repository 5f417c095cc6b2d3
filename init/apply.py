"""Apply, clean up or reconcile the plans of every family, all or nothing.

Before touching anything the current tables of every family are saved. Each family's state is
compared with its plan (:func:`init.state.compare`): equivalent rules mean there is nothing to
do, drift is refused unless ``--reconcile`` (or ``--force-apply``) asks to replace our rules.
If any step fails, every table we touched, in every family, is restored from the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping

from init import log
from init.errors import ApplyError, DriftError, InitError
from init.plan import TABLE_ORDER
from init.state import compare, parse_save, replace_text

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Protocol, TypeAlias

    from init.config import Family, RunOptions
    from init.plan import Plan
    from init.state import Status, TableState

    State: TypeAlias = dict[str, TableState]

    class Backend(Protocol):
        """What apply needs from a backend (python-iptables or iptables-restore)."""

        name: str

        def save(self, family: Family) -> str: ...

        def restore(self, family: Family, text: str, noflush: bool = True) -> None: ...

        def apply_plan(self, plan: Plan) -> None: ...

else:
    from init.records import dataclass

logger = log.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened: ``applied``, ``unchanged``, ``reconciled`` or ``cleaned``."""

    action: str


def _tables(snapshot: dict[str, TableState], plan: Plan) -> list[str]:
    return [t for t in TABLE_ORDER if t in snapshot or t in plan.tables()]


def rollback_text(snapshot_text: str, tables: list[str]) -> str:
    """Restore input (without --noflush) that puts ``tables`` back as they were saved."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in snapshot_text.splitlines():
        if line.startswith("*"):
            current = sections.setdefault(line[1:].strip(), [])
        if current is not None and not line.startswith("#"):
            current.append(line)
    out: list[str] = []
    for table in tables:
        out += sections.get(table, [f"*{table}", "COMMIT"])
    return "\n".join(out) + "\n"


def _rollback(
    backend: Backend,
    plans: tuple[Plan, ...],
    texts: Mapping[Family, str],
    states: Mapping[Family, State],
) -> None:
    for plan in plans:
        try:
            backend.restore(
                plan.family,
                rollback_text(texts[plan.family], _tables(states[plan.family], plan)),
                noflush=False,
            )
        except InitError as exc:
            logger.error("rollback of IPv%d failed: %s", plan.family, exc)


def _drift_message(statuses: Mapping[Family, str]) -> str:
    families = ", ".join(f"IPv{f}" for f, s in statuses.items() if s == "drift")
    return (
        f"{families}: ISTIO_* chains or jumps exist but differ from the planned rules "
        "(left by another version or other flags); rerun with --reconcile to replace them, "
        "or --cleanup-only to remove them"
    )


def _transact(
    backend: Backend,
    plans: tuple[Plan, ...],
    texts: Mapping[Family, str],
    states: Mapping[Family, State],
    statuses: Mapping[Family, Status],
    step: str,
) -> None:
    """Clean up or apply every plan, given each family's saved text, its parse and status."""
    try:
        for plan in plans:
            current = states[plan.family]
            if step == "cleanup":
                text = replace_text(current, plan, ())
                if text:
                    backend.restore(plan.family, text)
            elif statuses[plan.family] == "clean":
                backend.apply_plan(plan)
            else:
                backend.restore(plan.family, replace_text(current, plan, plan.rules))
    except ApplyError:
        _rollback(backend, plans, texts, states)
        raise


def run(backend: Backend, plans: tuple[Plan, ...], options: RunOptions) -> Outcome:
    """Bring the tables of every family to the plans (or remove our rules)."""
    texts = {plan.family: backend.save(plan.family) for plan in plans}
    states = {family: parse_save(text) for family, text in texts.items()}
    statuses = {p.family: compare(states[p.family], p) for p in plans}
    logger.info("current state: %s", ", ".join(f"IPv{f} {s}" for f, s in statuses.items()))
    if options.cleanup_only:
        _transact(backend, plans, texts, states, statuses, "cleanup")
        return Outcome("cleaned")
    values = set(statuses.values())
    if values == {"equivalent"} and not options.force_apply:
        logger.info("rules already in place and equivalent to the plan: nothing to do")
        return Outcome("unchanged")
    if "drift" in values and not (options.reconcile or options.force_apply):
        raise DriftError(_drift_message(statuses))
    _transact(backend, plans, texts, states, statuses, "apply")
    return Outcome("applied" if values == {"clean"} else "reconciled")
