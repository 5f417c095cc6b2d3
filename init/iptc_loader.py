"""Importing python-iptables fast: the only module that imports ``iptc``, lazily.

``import iptc`` normally shells out to ``ldconfig`` and ``gcc`` through
``ctypes.util.find_library`` (about 200 ms); :func:`import_iptc` answers those lookups from
known library directories instead, stands in for the ``distutils``, ``subprocess`` and
``socket`` modules the library barely uses at import time (see :func:`_stand_ins`), and sets
``XTABLES_LIBDIR`` when it is missing.
"""

from __future__ import annotations

import functools
import os
import sys

from init.errors import BackendUnavailableError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

LIB_DIRS = (
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
)  # fmt: skip


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
    import sysconfig  # python-iptables imports it too, and reads EXT_SUFFIX

    suffixes = (sysconfig.get_config_var("EXT_SUFFIX") or ".so", ".abi3.so", ".so")
    for entry in sys.path:
        site = entry or os.getcwd()
        if os.path.isfile(os.path.join(site, "iptc", "__init__.py")):
            for suffix in suffixes:
                path = os.path.join(site, f"lib{name}{suffix}")
                if os.path.isfile(path):
                    return path
            return None
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


def _module(name: str, **attributes: object) -> ModuleType:
    import types

    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _stand_ins() -> dict[str, ModuleType]:
    """Modules python-iptables imports but, while it is imported, barely uses.

    - ``ctypes.util``: only ``find_library``, answered by :func:`_find_library`; the real
      module would run ldconfig and gcc (and import shutil, tempfile and random);
    - ``distutils.sysconfig``: only ``get_python_lib``, a path;
    - ``subprocess``: ``PIPE`` and ``Popen``, called only to run modprobe; ours imports the
      real module (and threading) when called;
    - ``socket``: functions and constants, which ``_socket`` has without ``socket.py``'s
      enum classes and ``selectors``.
    """
    import _socket
    import sysconfig

    def get_python_lib(*_args: object, **_kwargs: object) -> str:
        return sysconfig.get_path("purelib")

    sysconfig_stand_in = _module("distutils.sysconfig", get_python_lib=get_python_lib)
    names = {k: v for k, v in vars(_socket).items() if not k.startswith("__")}
    return {
        "ctypes.util": _module("ctypes.util", find_library=_find_library),
        "distutils": _module("distutils", sysconfig=sysconfig_stand_in),
        "distutils.sysconfig": sysconfig_stand_in,
        "subprocess": _module("subprocess", PIPE=-1, Popen=_popen),
        "socket": _module("socket", **names),
    }


class _ImportShims:
    """While python-iptables is imported: the stand-ins of :func:`_stand_ins` for modules not
    loaded yet (removed afterwards; python-iptables keeps its references), and our
    ``find_library`` patched into ``ctypes.util`` if that is loaded already."""

    def __enter__(self) -> None:
        import ctypes

        self.installed = {n: m for n, m in _stand_ins().items() if n not in sys.modules}
        sys.modules.update(self.installed)
        self.util = sys.modules["ctypes.util"]
        self.original = getattr(self.util, "find_library", None)
        self.util.find_library = _find_library  # type: ignore[attr-defined]
        self.attribute = getattr(ctypes, "util", None)
        ctypes.util = self.util  # type: ignore[attr-defined]

    def __exit__(self, *_exc: object) -> None:
        import ctypes

        for name, module in self.installed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        self.util.find_library = self.original  # type: ignore[attr-defined]
        if self.attribute is None:
            del ctypes.util  # type: ignore[attr-defined]
        else:
            ctypes.util = self.attribute  # type: ignore[attr-defined]


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
        with _ImportShims():
            import iptc
    except Exception as exc:  # ImportError, OSError, XTablesError: the library cannot load
        raise BackendUnavailableError(f"python-iptables cannot load: {exc}") from exc
    return iptc
