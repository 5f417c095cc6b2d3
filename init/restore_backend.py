"""The ``iptables-restore`` backend: one ``--noflush`` call per IP family, input on stdin.

Works on legacy and nf_tables kernels alike (``iptables-legacy-restore`` or
``iptables-nft-restore``). Legacy calls take the xtables lock with ``--wait``.
"""

from __future__ import annotations

import os

from init import log
from init.errors import ApplyError, BackendUnavailableError
from init.render import to_restore_text

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Literal, TypeAlias

    from init.config import Family
    from init.plan import Plan

    Variant: TypeAlias = Literal["legacy", "nft"]
else:
    from init.records import dataclass

logger = log.get_logger(__name__)
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
                if which(name) is None:
                    raise BackendUnavailableError(
                        f"{name} not found on PATH: install the iptables package "
                        f"({self.variant} variant) in the init image"
                    )

    def save(self, family: Family) -> str:
        return run([self.program(family, "save")], None)

    def restore(self, family: Family, text: str, noflush: bool = True) -> None:
        command = [self.program(family, "restore")]
        if noflush:
            command.append("--noflush")
        if self.variant == "legacy":
            command.append(f"--wait={WAIT_SECONDS}")
        run(command, text)


def which(name: str) -> str | None:
    """``shutil.which`` for a bare program name (without importing shutil)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)  # a regular file: one write takes it all
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def run(command: list[str], stdin: str | None) -> str:
    """Run ``command`` (stdin text, if any); its stdout, or ApplyError with its stderr.

    ``subprocess.run(capture_output=True, text=True)`` without importing subprocess: one
    ``posix_spawnp`` (vfork + exec), with stdin, stdout and stderr on memory files, so no
    pipe can fill up and no thread or poll loop is needed. Like subprocess, SIGPIPE and
    SIGXFSZ are reset to their defaults in the child.
    """
    import signal

    fds: list[int] = []
    try:
        actions = []
        if stdin is not None:
            fds.append(_memfd("stdin", stdin.encode()))
            actions.append((os.POSIX_SPAWN_DUP2, fds[-1], 0))
        for target in (1, 2):
            fds.append(_memfd("stdout" if target == 1 else "stderr"))
            actions.append((os.POSIX_SPAWN_DUP2, fds[-1], target))
        try:
            pid = os.posix_spawnp(
                command[0],
                command,
                os.environ,
                file_actions=actions,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            )
        except OSError as exc:
            raise BackendUnavailableError(f"cannot run {command[0]}: {exc.strerror}") from exc
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        stdout, stderr = _read_all(fds[-2]), _read_all(fds[-1])
    finally:
        for fd in fds:
            os.close(fd)
    if code != 0:
        detail = " ".join(stderr.split()) or f"exit status {code}"
        raise ApplyError(f"{command[0]} failed: {detail}")
    return stdout


class RestoreBackend:
    """Applies a plan with one ``iptables-restore --noflush`` call per family."""

    def __init__(self, variant: Variant) -> None:
        self.binaries = Binaries(variant)
        self.name = f"iptables-{variant}-restore"

    def close(self) -> None:
        """Nothing to stop: one ``iptables-restore`` call per family does all the work."""

    def save(self, family: Family) -> str:
        return self.binaries.save(family)

    def restore(self, family: Family, text: str, noflush: bool = True) -> None:
        self.binaries.restore(family, text, noflush)

    def apply_plan(self, plan: Plan) -> None:
        text = to_restore_text(plan)
        if logger.isEnabledFor(log.DEBUG):
            for rule in plan.rules:
                logger.debug("IPv%d %s: %s", plan.family, rule.table, rule.command())
        self.binaries.restore(plan.family, text)
