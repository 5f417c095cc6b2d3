"""The ``iptables-restore`` backend: one ``--noflush`` call per IP family, input on stdin.

Works on legacy and nf_tables kernels alike (``iptables-legacy-restore`` or
``iptables-nft-restore``). Legacy calls take the xtables lock with ``--wait``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from init.config import Family
from init.errors import ApplyError, BackendUnavailableError
from init.plan import Plan
from init.render import to_restore_text

logger = logging.getLogger(__name__)

Variant = Literal["legacy", "nft"]
WAIT_SECONDS = "30"


@dataclass(frozen=True)
class Binaries:
    """The save and restore programs of one variant."""

    variant: Variant

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

    def save(self, family: Family) -> str:
        return _run([self.program(family, "save")], None, "save").stdout

    def restore(self, family: Family, text: str, noflush: bool = True) -> None:
        command = [self.program(family, "restore")]
        if noflush:
            command.append("--noflush")
        if self.variant == "legacy":
            command.append(f"--wait={WAIT_SECONDS}")
        _run(command, text, "restore")


def _run(command: list[str], stdin: str | None, what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackendUnavailableError(f"cannot run {command[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise ApplyError(f"{command[0]} failed: {detail}")
    return done


class RestoreBackend:
    """Applies a plan with one ``iptables-restore --noflush`` call per family."""

    def __init__(self, variant: Variant) -> None:
        self.binaries = Binaries(variant)
        self.variant: Variant = variant
        self.name = f"iptables-{variant}-restore"

    def save(self, family: Family) -> str:
        return self.binaries.save(family)

    def restore(self, family: Family, text: str, noflush: bool = True) -> None:
        self.binaries.restore(family, text, noflush)

    def apply_plan(self, plan: Plan) -> None:
        text = to_restore_text(plan)
        for rule in plan.rules:
            logger.debug("IPv%d %s: %s", plan.family, rule.table, rule.command())
        self.binaries.restore(plan.family, text)
