"""The python-iptables backend (legacy netfilter): one batch commit per table, single-threaded.

Each IP family is applied by its own forked worker process, for two reasons: python-iptables
cannot load an extension shared by both families (``libxt_REDIRECT``) for IPv6 once IPv4
loaded it in the same process, and a crash inside libiptc or an extension must not take the
caller, who rolls back, with it. :meth:`IptcBackend.prepare` forks the workers as soon as the
plans are known (:func:`init.detect.choose_backend` calls it before probing the kernel): each
imports python-iptables and builds its rules (:func:`init.iptc_apply.build`), which is most of
this backend's cost, while the caller probes the kernel and reads and compares the current
state; then it waits. :meth:`IptcBackend.apply_plan` tells a worker
to commit and waits for its one-line report. A worker that is not told to commit has touched
nothing and is stopped by :meth:`IptcBackend.close`. Reading state and rolling back use the
legacy save/restore programs, which see the same kernel tables.
"""

from __future__ import annotations

import gc
import os

from init.errors import ApplyError, BackendUnavailableError, InitError
from init.restore_backend import RestoreBackend

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from init.config import Family
    from init.plan import Plan

_COMMIT = b"c"


class IptcBackend(RestoreBackend):
    """Applies a plan through python-iptables; state and rollback via the legacy programs."""

    def __init__(self) -> None:
        super().__init__("legacy")  # save and restore: the legacy programs
        self.name = "python-iptables"
        self._workers: dict[Family, _Worker] = {}

    def prepare(self, plans: tuple[Plan, ...]) -> None:
        """Fork one worker per plan: it imports python-iptables and builds the rules now."""
        for plan in plans:
            if plan.family not in self._workers:
                self._workers[plan.family] = _Worker(plan)

    def apply_plan(self, plan: Plan) -> None:
        """Commit each table of ``plan`` through its worker (forked now if not prepared)."""
        self.prepare((plan,))
        self._workers.pop(plan.family).commit()

    def close(self) -> None:
        """Stop the workers that were not told to commit; they have touched nothing."""
        while self._workers:
            self._workers.popitem()[1].cancel()


class _Worker:
    """A forked process that builds one plan's rules at once and commits them on cue."""

    def __init__(self, plan: Plan) -> None:
        commands, self._commands = os.pipe()
        self._reports, reports = os.pipe()
        self.family = plan.family
        self.done = False
        self.pid = os.fork()
        if self.pid == 0:  # the worker: never returns
            # Short-lived, with bounded garbage: collections would only copy pages it shares
            # with the parent (every object they visit), which measurably slows it down.
            gc.disable()
            try:
                os.close(self._commands)
                os.close(self._reports)
                _serve(plan, commands, reports)
            finally:
                os._exit(0)
        os.close(commands)
        os.close(reports)

    def commit(self) -> None:
        """Commit, wait for the worker's report; its error is raised here."""
        self._send(_COMMIT)
        report, status = self._finish()
        if report or status != 0:
            kind, _, message = report.partition("\0")
            error = BackendUnavailableError if kind == "BackendUnavailableError" else ApplyError
            raise error(message or f"IPv{self.family} apply process died (status {status})")

    def cancel(self) -> None:
        """Stop the worker unless it already finished: before a commit it only read tables."""
        if not self.done:
            import signal

            os.kill(self.pid, signal.SIGKILL)
            self._finish()

    def _send(self, data: bytes) -> None:
        try:
            os.write(self._commands, data)
        except BrokenPipeError:  # it died early: its exit status says how
            pass

    def _finish(self) -> tuple[str, int]:
        self.done = True
        os.close(self._commands)
        with os.fdopen(self._reports, "rb") as pipe:
            report = pipe.read().decode()
        return report, os.waitpid(self.pid, 0)[1]


def _serve(plan: Plan, commands: int, reports: int) -> None:
    """The worker: import and build now; commit only on cue; report one line."""
    failure = ""
    try:
        from init import iptc_apply
        from init.iptc_loader import import_iptc

        iptc = import_iptc()
        batches = iptc_apply.build(iptc, plan)
    except BaseException as exc:  # reported only if asked to commit: it may never be
        failure = _failure(plan.family, exc)
    if os.read(commands, 1) != _COMMIT:
        return  # cancelled, or the parent is gone: touch nothing
    if not failure:
        try:
            iptc_apply.commit(iptc, plan.family, batches)
        except BaseException as exc:  # anything must still reach the parent as one line
            failure = _failure(plan.family, exc)
    os.write(reports, failure.encode())


def _failure(family: Family, exc: BaseException) -> str:
    if isinstance(exc, InitError):
        return f"{type(exc).__name__}\0{exc}"
    return f"ApplyError\0IPv{family}: {type(exc).__name__}: {exc}"
