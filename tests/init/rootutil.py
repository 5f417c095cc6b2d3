"""Helpers shared by the root tests: run sidecar-init in a netns, read and normalise saves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.netns import Netns

ROOT = Path(__file__).resolve().parents[2]
INJECTED = ("istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
            "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020")  # fmt: skip
APP_UID = 1000
PROXY_UID = 1337


def sidecar_init_argv(*args: str) -> list[str]:
    """The command line of ``sidecar-init`` from this tree, for :meth:`Netns.spawn`."""
    return ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "init", *args]


def sidecar_init(
    ns: Netns, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return ns.run([sys.executable, "-m", "init", *args], check=False, env=environ)


def save(ns: Netns, program: str = "iptables-legacy-save") -> str:
    """Rules as saved, without comments and counters, tables without rules dropped."""
    text = ns.run([program]).stdout
    out: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        line = re.sub(r"\[\d+:\d+\]", "[0:0]", line)
        block.append(line)
        if line == "COMMIT":
            if any(not entry.startswith((":", "*", "COMMIT")) for entry in block):
                out += block
            block = []
    return "\n".join(out) + "\n"


def istio_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "ISTIO" in line]
