"""Importing python-iptables fast: the only module that imports ``iptc``, lazily.

``import iptc`` normally shells out to ``ldconfig`` and ``gcc`` through
``ctypes.util.find_library`` (about 200 ms); :func:`import_iptc` answers those lookups from
known library directories instead, shadows the ``distutils`` and ``subprocess`` imports the
library does not need at import time, and sets ``XTABLES_LIBDIR`` when it is missing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator

from init.errors import BackendUnavailableError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import Any

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
