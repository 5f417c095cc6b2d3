"""The python-iptables backend (legacy netfilter): the restore backend, committing through libiptc.

Reading state and rolling back use the legacy save/restore programs, which see the same kernel
tables. Each family's plan is committed by :mod:`init.render_iptc` in a child process forked
for it, for two reasons: python-iptables cannot load an extension shared by both families
(``libxt_REDIRECT``) for IPv6 once IPv4 loaded it in the same process, and a crash inside
libiptc or an extension must not take the caller, who rolls back, with it.
"""

from __future__ import annotations

import os
from typing import Any

from init.errors import ApplyError, BackendUnavailableError, InitError
from init.plan import Plan
from init.restore_backend import RestoreBackend


class IptcBackend(RestoreBackend):
    """Commits plans through python-iptables; state and rollback via the legacy programs."""

    def __init__(self) -> None:
        super().__init__("legacy")
        self.name = "python-iptables"

    def commit_plan(self, plan: Plan) -> None:
        """Commit ``plan`` in a child process; its error is raised here."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(read_end)
                _load_renderer().commit(plan)
            except BaseException as exc:  # anything must reach the parent as one line
                code = exc.exit_code if isinstance(exc, InitError) else 1
                os.write(write_end, _describe(exc).encode())
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read().decode()
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if status == BackendUnavailableError.exit_code:
            raise BackendUnavailableError(report)
        if status != 0 or report:
            raise ApplyError(report or f"IPv{plan.family} apply process died (status {status})")


def _load_renderer() -> Any:
    """:mod:`init.render_iptc`, importing python-iptables; BackendUnavailableError if it can't."""
    try:
        from init import render_iptc
    except (ImportError, OSError) as exc:  # the library or libiptc/libxtables is missing
        raise BackendUnavailableError(f"python-iptables cannot load: {exc}") from exc
    return render_iptc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InitError):
        return str(exc)
    return f"python-iptables: {exc}" if str(exc) else f"python-iptables: {type(exc).__name__}"
