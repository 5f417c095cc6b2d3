"""The ``iptables-restore`` backend: one ``--noflush`` call per IP family, input on stdin.

Works on legacy and nf_tables kernels alike (``iptables-legacy-restore`` or
``iptables-nft-restore``). The current tables are read with the matching ``-save`` program
and compared with the plan (:mod:`init.state`); a rollback restores the saved text of every
table we touched. :class:`init.iptc_backend.IptcBackend` reuses all of this and commits the
plan through python-iptables instead.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal, TypeAlias

from init.config import Family
from init.errors import ApplyError, BackendUnavailableError
from init.plan import TABLE_ORDER, Plan
from init.render_restore import to_restore_text
from init.state import Status, TableState, compare, parse_save, replace_text

logger = logging.getLogger(__name__)

Variant: TypeAlias = Literal["legacy", "nft"]


@dataclass(frozen=True)
class Saved:
    """One family's tables as ``iptables-save`` printed them, and parsed."""

    text: str
    tables: dict[str, TableState]


def run(command: list[str], stdin: str | None = None) -> str:
    """Run ``command`` (stdin text, if any); its stdout, or ApplyError with its stderr."""
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackendUnavailableError(f"cannot run {command[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise ApplyError(f"{command[0]} failed: {detail}")
    return done.stdout


def read_state(command: list[str]) -> str:
    """Run the program that lists the current rules: if that fails, nothing can be applied."""
    try:
        return run(command)
    except ApplyError as exc:
        raise BackendUnavailableError(
            f"cannot read the current rules: {exc} (the init container needs the NET_ADMIN "
            "and NET_RAW capabilities, and the kernel the tables)"
        ) from exc


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


class RestoreBackend:
    """Applies each family's plan with one ``iptables-<variant>-restore --noflush`` call."""

    def __init__(self, variant: Variant) -> None:
        self.variant = variant
        self.name = f"iptables-{variant}-restore"

    def program(self, family: Family, verb: Literal["save", "restore"]) -> str:
        prefix = "ip6tables" if family == 6 else "iptables"
        return f"{prefix}-{self.variant}-{verb}"

    def check(self, families: tuple[Family, ...]) -> None:
        """Raise BackendUnavailableError when a needed program is not on PATH."""
        for family in families:
            for verb in ("save", "restore"):
                name = self.program(family, verb)
                if shutil.which(name) is None:
                    raise BackendUnavailableError(
                        f"{name} not found on PATH: install the iptables package "
                        f"({self.variant} variant) in the init image"
                    )

    def restore(self, family: Family, text: str, noflush: bool = True) -> None:
        command = [self.program(family, "restore")] + (["--noflush"] if noflush else [])
        run(command, text)

    def snapshot(self, plans: tuple[Plan, ...]) -> dict[Family, Saved]:
        """The current tables; BackendUnavailableError when they cannot even be read."""
        saved = {}
        for plan in plans:
            text = read_state([self.program(plan.family, "save")])
            saved[plan.family] = Saved(text, parse_save(text))
        return saved

    def status(self, snapshot: dict[Family, Saved], plan: Plan) -> Status:
        return compare(snapshot[plan.family].tables, plan)

    def commit_plan(self, plan: Plan) -> None:
        """Apply ``plan`` to tables that hold none of our rules."""
        self.restore(plan.family, to_restore_text(plan))

    def apply(self, snapshot: dict[Family, Saved], plans: tuple[Plan, ...]) -> None:
        """Bring every family to its plan: a plain apply when clean, else a replacement."""
        for plan in plans:
            if self.status(snapshot, plan) == "clean":
                self.commit_plan(plan)
            else:
                tables = snapshot[plan.family].tables
                self.restore(plan.family, replace_text(tables, plan, plan.rules))

    def cleanup(self, snapshot: dict[Family, Saved], plans: tuple[Plan, ...]) -> None:
        for plan in plans:
            text = replace_text(snapshot[plan.family].tables, plan, ())
            if text:
                self.restore(plan.family, text)

    def rollback(self, snapshot: dict[Family, Saved], plans: tuple[Plan, ...]) -> None:
        """Put every table we may have touched back as saved; failures are logged."""
        for plan in plans:
            saved = snapshot[plan.family]
            tables: list[str] = [t for t in TABLE_ORDER if t in saved.tables or t in plan.tables()]
            try:
                self.restore(plan.family, rollback_text(saved.text, tables), noflush=False)
            except (ApplyError, BackendUnavailableError) as exc:
                logger.error("rollback of IPv%d failed: %s", plan.family, exc)
