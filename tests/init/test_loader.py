"""Importing python-iptables through init.iptc_loader: fast, and leaving no stand-in behind."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.init.rootutil import ROOT

PROBE = r"""
import json, sys
before = set(sys.modules)
from init.iptc_loader import import_iptc
iptc = import_iptc()
import iptc.ip4tc as ip4tc
print(json.dumps({
    "new": sorted(set(sys.modules) - before),
    "stand_in_socket_works": ip4tc.socket.inet_ntop(ip4tc.socket.AF_INET, b"\x7f\x00\x00\x06"),
    "ctypes_util_attr": hasattr(sys.modules["ctypes"], "util"),
    "table": iptc.Table is ip4tc.Table,
}))
"""


def _probe() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_import_spawns_nothing_and_leaves_only_real_modules() -> None:
    """No ldconfig or gcc: subprocess is never imported, nor ctypes.util (whose find_library
    runs them); the socket, subprocess and distutils stand-ins are gone after the import."""
    result = _probe()
    new = set(result["new"])  # type: ignore[arg-type]
    assert "iptc.ip4tc" in new and "iptc.xtables" in new
    for name in ("subprocess", "ctypes.util", "socket", "distutils", "distutils.sysconfig"):
        assert name not in new, name
    assert result["ctypes_util_attr"] is False
    assert result["stand_in_socket_works"] == "127.0.0.6"
    assert result["table"] is True


def test_real_modules_stay_when_already_loaded() -> None:
    """A program that already imported socket and ctypes.util keeps those very modules."""
    code = (
        "import socket, ctypes.util, sys\n"
        "real = (socket, ctypes.util, ctypes.util.find_library)\n"
        "from init.iptc_loader import import_iptc\n"
        "iptc = import_iptc()\n"
        "import iptc.ip4tc as ip4tc\n"
        "assert (sys.modules['socket'], sys.modules['ctypes.util']) == real[:2]\n"
        "assert ctypes.util.find_library is real[2] and ip4tc.socket is socket\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
