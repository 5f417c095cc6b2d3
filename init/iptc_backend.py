"""The python-iptables backend (legacy netfilter): one batch commit per table, one thread.

The only module that imports ``iptc``, lazily. Caveats handled here (see the team's iptables
notes): libiptc handles are snapshots, so each table is ``refresh()``-ed before its transaction
and retried on EAGAIN; ``import iptc`` normally shells out to ``ldconfig`` and ``gcc`` through
``ctypes.util.find_library``, which we answer from known library directories instead, and it
needs ``XTABLES_LIBDIR``, which we set when missing. Reading state and rolling back use the
legacy save/restore programs, which see the same kernel tables.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sys
from collections.abc import Iterator

from init import log
from init.errors import ApplyError, BackendUnavailableError, InitError
from init.restore_backend import RestoreBackend
from init.state import option_groups

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import Any

    from init.config import Family
    from init.plan import Plan, Rule, Table

logger = log.get_logger(__name__)

LIB_DIRS = (
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
)  # fmt: skip
ATTEMPTS = 3
_PORT_OPTIONS = frozenset({"--dport", "--sport"})
_SETTERS = {"-p": "protocol", "-s": "src", "-d": "dst", "-i": "in_interface", "-o": "out_interface"}


def xtables_libdir() -> str | None:
    """The directory holding the xtables extension ``.so`` files, if any."""
    for base in LIB_DIRS:
        candidate = os.path.join(base, "xtables")
        if os.path.isfile(os.path.join(candidate, "libxt_owner.so")):
            return candidate
    return None


@functools.cache
def _listing(directory: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(directory)))
    except OSError:
        return ()


@functools.cache
def _versioned(directory: str) -> dict[str, str]:
    """``<name>`` -> the first (sorted) ``lib<name>.so.<N...>`` entry of ``directory``."""
    found: dict[str, str] = {}
    for entry in _listing(directory):
        name, dot_so, _ = entry.partition(".so.")
        if dot_so and name.startswith("lib"):
            found.setdefault(name[3:], entry)
    return found


def _own_extension(name: str) -> str | None:
    """python-iptables' own ``lib<name>`` extension module (``libxtwrapper``), beside ``iptc``.

    python-iptables finds it only after failing the system directories, the site-packages
    directory and every ``sys.path`` entry under several spellings; it is the same file.
    """
    import importlib.machinery

    spec = importlib.machinery.PathFinder.find_spec("iptc")
    if spec is None or spec.origin is None:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(site, f"lib{name}{suffix}")
        if os.path.isfile(path):
            return path
    return None


def _find_library(name: str) -> str | None:
    """``ctypes.util.find_library`` without forking ldconfig or gcc: ``lib<name>.so.<N>``."""
    if name == "c":
        return "libc.so.6"
    if name == "xtwrapper":
        return _own_extension(name)
    prefix = f"lib{name}.so."
    for base in LIB_DIRS:
        if ".so" not in name:
            entry = _versioned(base).get(name)
            if entry is not None:
                return os.path.join(base, entry)
            continue
        for entry in _listing(base):
            if entry.startswith(prefix):
                return os.path.join(base, entry)
    return None


def _popen(*args: Any, **kwargs: Any) -> Any:
    """``subprocess.Popen``, importing subprocess (and threading) only when called."""
    import subprocess

    return subprocess.Popen(*args, **kwargs)


@contextlib.contextmanager
def _fast_import_environment() -> Iterator[None]:
    """Answer find_library ourselves and shadow distutils (python-iptables' only use: a path).

    python-iptables only calls ``ctypes.util.find_library`` while it is imported. When
    ``ctypes.util`` is not loaded yet, a stand-in module holding just our ``find_library``
    takes its place for the import, which also spares importing ``ctypes.util`` itself (with
    ``shutil``, ``tempfile`` and ``random``); else its ``find_library`` is patched meanwhile.
    Likewise a stand-in ``subprocess`` whose ``Popen`` imports the real one when called spares
    importing subprocess and threading.
    """
    import ctypes
    import sysconfig
    import types

    stub = types.ModuleType("distutils")
    stub_sysconfig = types.ModuleType("distutils.sysconfig")
    setattr(stub_sysconfig, "get_python_lib", lambda *a, **k: sysconfig.get_path("purelib"))  # noqa: B010
    setattr(stub, "sysconfig", stub_sysconfig)  # noqa: B010
    shadow = "distutils" not in sys.modules
    if shadow:
        sys.modules["distutils"], sys.modules["distutils.sysconfig"] = stub, stub_sysconfig
    lazy_subprocess = "subprocess" not in sys.modules
    if lazy_subprocess:  # python-iptables binds Popen and PIPE; it calls Popen only for modprobe
        stand_in = types.ModuleType("subprocess")
        setattr(stand_in, "PIPE", -1)  # noqa: B010  (subprocess.PIPE)
        setattr(stand_in, "Popen", _popen)  # noqa: B010
        sys.modules["subprocess"] = stand_in
    real_util = sys.modules.get("ctypes.util")
    original = getattr(real_util, "find_library", None)
    if real_util is None:
        util = types.ModuleType("ctypes.util")
        setattr(util, "find_library", _find_library)  # noqa: B010
        sys.modules["ctypes.util"] = util
        setattr(ctypes, "util", util)  # noqa: B010
    else:
        setattr(real_util, "find_library", _find_library)  # noqa: B010
    try:
        yield
    finally:
        if real_util is None:
            sys.modules.pop("ctypes.util", None)
            delattr(ctypes, "util")
        else:
            setattr(real_util, "find_library", original)  # noqa: B010
        if lazy_subprocess and sys.modules.get("subprocess") is stand_in:
            del sys.modules["subprocess"]
        if shadow:
            sys.modules.pop("distutils", None)
            sys.modules.pop("distutils.sysconfig", None)


def import_iptc() -> Any:
    """Import python-iptables fast; BackendUnavailableError when it cannot load."""
    if "iptc" in sys.modules:
        return sys.modules["iptc"]
    if "XTABLES_LIBDIR" not in os.environ:
        libdir = xtables_libdir()
        if libdir is None:
            raise BackendUnavailableError(
                "xtables extensions not found (libxt_owner.so): install the iptables package "
                "or set XTABLES_LIBDIR"
            )
        os.environ["XTABLES_LIBDIR"] = libdir
    try:
        with _fast_import_environment():
            import iptc
    except Exception as exc:  # ImportError, OSError, XTablesError: the library cannot load
        raise BackendUnavailableError(f"python-iptables cannot load: {exc}") from exc
    return iptc


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
    rule.final_check()
    return rule


def _table(iptc: Any, family: Family, name: Table) -> Any:
    return (iptc.Table6 if family == 6 else iptc.Table)(name)


def _stage(iptc: Any, family: Family, handle: Any, plan: Plan, table: Table) -> None:
    for chain in plan.chains_of(table):
        if not handle.is_chain(chain):
            handle.create_chain(chain)
    for rule in plan.rules_of(table):
        _stage_rule(iptc, family, handle, rule)


def _stage_rule(iptc: Any, family: Family, handle: Any, rule: Rule) -> None:
    try:
        built = build_rule(iptc, family, handle, rule.spec)
    except (ValueError, AttributeError, iptc.XTablesError, iptc.IPTCError) as exc:
        raise ApplyError(f"IPv{family} {rule.table}: bad rule {rule.command()!r}: {exc}") from exc
    # Chain.append_rule/insert_rule would run final_check() again (build_rule did): the
    # table's own calls add the same entry without repeating it.
    entry = built.rule
    if not entry:
        raise ValueError("invalid rule")
    if rule.position is None:
        handle.append_entry(rule.chain, entry)
    else:
        handle.insert_entry(rule.chain, entry, rule.position - 1)
    if logger.isEnabledFor(log.DEBUG):
        logger.debug("IPv%d %s: %s", family, rule.table, rule.command())


def _commit_table(iptc: Any, family: Family, plan: Plan, table: Table) -> None:
    """Stage every rule of ``table`` on a fresh snapshot and commit once; retry on EAGAIN."""
    try:
        handle = _table(iptc, family, table)
    except iptc.IPTCError as exc:
        raise BackendUnavailableError(
            f"legacy IPv{family} {table} table unavailable: {exc}"
        ) from exc
    handle.autocommit = False
    try:
        for attempt in range(1, ATTEMPTS + 1):
            handle.refresh()
            _stage(iptc, family, handle, plan, table)
            try:
                handle.commit()
                return
            except iptc.IPTCError as exc:
                if _errno(exc) != errno.EAGAIN or attempt == ATTEMPTS:
                    raise ApplyError(f"IPv{family} {table}: commit failed: {exc}") from exc
                logger.info("IPv%d %s changed under us (EAGAIN); retrying", family, table)
    finally:
        handle.refresh()  # drop whatever was staged and not committed
        handle.autocommit = True


def _errno(exc: Exception) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int):
        return code
    return errno.EAGAIN if "temporarily unavailable" in str(exc) else None


class IptcBackend(RestoreBackend):
    """Applies a plan through python-iptables; state and rollback via the legacy programs."""

    def __init__(self) -> None:
        super().__init__("legacy")  # save and restore: the legacy programs
        self.name = "python-iptables"

    def apply_plan(self, plan: Plan) -> None:
        """Commit each table of ``plan`` in a forked child (one per family).

        python-iptables cannot load an extension shared by both families (``libxt_REDIRECT``)
        for IPv6 once IPv4 loaded it in the same process, so every family gets a fresh child;
        the import itself is done once, here, before forking.
        """
        iptc = import_iptc()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: apply, report the error (if any) through the pipe, exit
            os.close(read_end)
            os.write(write_end, _apply_in_child(iptc, plan).encode())
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        if report or status != 0:
            kind, _, message = report.partition("\0")
            error = BackendUnavailableError if kind == "BackendUnavailableError" else ApplyError
            raise error(message or f"IPv{plan.family} apply process died (status {status})")


def _apply_in_child(iptc: Any, plan: Plan) -> str:
    try:
        for table in plan.tables():
            _commit_table(iptc, plan.family, plan, table)
    except InitError as exc:
        return f"{type(exc).__name__}\0{exc}"
    except BaseException as exc:  # anything else must still reach the parent as one line
        return f"ApplyError\0IPv{plan.family}: {type(exc).__name__}: {exc}"
    return ""
