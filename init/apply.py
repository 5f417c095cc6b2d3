"""Apply, clean up or reconcile the plans of every family, all or nothing, under the lock.

Holding the xtables lock (:mod:`init.lock`) from first read to last write, the backend saves
the current state of every family and compares it with each plan: equivalent rules mean there
is nothing to do; drift is refused unless ``--reconcile`` (or ``--force-apply``) asks to
replace our rules. Then the rules are committed and, for TPROXY or IPv6, policy routing is set
up. If any step fails, every table, in every family, is put back as saved, and the error names
the step that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from init import routing
from init.config import CaptureConfig, Family, RunOptions
from init.errors import ApplyError, DriftError, InitError
from init.lock import xtables_lock
from init.plan import Plan
from init.state import Status

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """What a backend offers: a snapshot of the state, and changes that can be undone."""

    name: str

    def snapshot(self, plans: tuple[Plan, ...]) -> Any: ...

    def status(self, snapshot: Any, plan: Plan) -> Status: ...

    def apply(self, snapshot: Any, plans: tuple[Plan, ...]) -> None: ...

    def cleanup(self, snapshot: Any, plans: tuple[Plan, ...]) -> None: ...

    def rollback(self, snapshot: Any, plans: tuple[Plan, ...]) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What happened: ``applied``, ``unchanged``, ``reconciled`` or ``cleaned``."""

    action: str


def _drift_message(statuses: Mapping[Family, str]) -> str:
    families = ", ".join(f"IPv{f}" for f, s in statuses.items() if s == "drift")
    return (
        f"{families}: capture rules exist but differ from the planned rules "
        "(left by another version or other flags); rerun with --reconcile to replace them, "
        "or --cleanup-only to remove them"
    )


def _steps(
    backend: Backend,
    snapshot: Any,
    plans: tuple[Plan, ...],
    steps: list[tuple[str, Callable[[], None]]],
) -> None:
    """Run ``steps`` in order; on a failure roll everything back and name the step."""
    for step, action in steps:
        try:
            action()
        except InitError as exc:
            try:
                backend.rollback(snapshot, plans)
            except InitError as undo:
                logger.error("rollback failed: %s", undo)
                raise ApplyError(f"{step} failed: {exc}; rollback failed too: {undo}") from exc
            if isinstance(exc, ApplyError):
                raise ApplyError(f"{step} failed: {exc}; every change was rolled back") from exc
            raise


def _decide(backend: Backend, snapshot: Any, plans: tuple[Plan, ...], options: RunOptions) -> str:
    statuses = {plan.family: backend.status(snapshot, plan) for plan in plans}
    logger.info("current state: %s", ", ".join(f"IPv{f} {s}" for f, s in statuses.items()))
    values = set(statuses.values())
    if options.cleanup_only:
        return "cleaned"
    if values == {"equivalent"} and not options.force_apply:
        logger.info("rules already in place and equivalent to the plan: nothing to do")
        return "unchanged"
    if "drift" in values and not (options.reconcile or options.force_apply):
        raise DriftError(_drift_message(statuses))
    return "applied" if values == {"clean"} else "reconciled"


def run(
    backend: Backend, capture: CaptureConfig, plans: tuple[Plan, ...], options: RunOptions
) -> Outcome:
    """Bring the rules of every family to the plans (or remove ours), then the routing."""
    with xtables_lock():
        snapshot = backend.snapshot(plans)
        action = _decide(backend, snapshot, plans, options)
        if action == "cleaned":
            _steps(
                backend, snapshot, plans, [("cleanup", lambda: backend.cleanup(snapshot, plans))]
            )
        elif action != "unchanged":
            _steps(backend, snapshot, plans, [
                (f"applying rules with {backend.name}", lambda: backend.apply(snapshot, plans)),
                ("policy routing (netlink)", lambda: routing.configure(capture)),
            ])  # fmt: skip
        elif capture.tproxy or capture.ipv6:  # the rules are in place: only the routing
            try:
                routing.configure(capture)
            except ApplyError as exc:
                raise ApplyError(f"policy routing (netlink) failed: {exc}") from exc
    return Outcome(action)
