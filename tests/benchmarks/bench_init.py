"""Whole-process wall time of ``sidecar-init`` applying Istio's default injection rules.

Run as root: ``python tests/benchmarks/bench_init.py [runs]``. Each run gets its own fresh
netns; the methods are interleaved and measured in the same run; medians are reported as a
ratio to ``python3 -c pass`` and to ``iptables-legacy-restore --noflush`` of the same rules.
Target: sidecar-init (default backend) <= 4 x ``python3 -c pass``.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from init.config import build_config  # noqa: E402
from init.flags import parse_flags  # noqa: E402
from init.plan import build_plan  # noqa: E402
from init.render import to_restore_text  # noqa: E402

INJECTED = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
            "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--ipv6", "off"]  # fmt: skip
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def _rules_text() -> str:
    capture, _ = build_config(parse_flags(INJECTED, {}), {})
    return to_restore_text(build_plan(capture, 4))


def measure(argv: list[str], stdin: str | None = None) -> float:
    name = f"bench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        read_end, write_end = os.pipe()
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        pid = os.fork()
        if pid == 0:  # child: enter the netns, then time only the command itself
            try:
                os.close(read_end)
                _setns(fd)
                start = time.perf_counter()
                done = subprocess.run(argv, input=stdin, text=True, capture_output=True, env=ENV)
                elapsed = time.perf_counter() - start
                os.write(write_end, f"{elapsed if done.returncode == 0 else -1}".encode())
            finally:
                os._exit(0)
        os.close(fd)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            value = float(pipe.read() or -1)
        os.waitpid(pid, 0)
        if value < 0:
            raise SystemExit(f"failed: {argv}")
        return value
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    rules = _rules_text()
    init = [sys.executable, "-m", "init", *INJECTED, "--log_output_level=default:warn"]
    methods: dict[str, tuple[list[str], str | None]] = {
        "python3 -c pass": ([sys.executable, "-c", "pass"], None),
        "iptables-legacy-restore --noflush": (["iptables-legacy-restore", "--noflush"], rules),
        "sidecar-init (default: auto -> iptc)": (init, None),
        "sidecar-init --backend iptc": ([*init, "--backend", "iptc"], None),
        "sidecar-init --backend restore": ([*init, "--backend", "restore"], None),
        "python3 -c 'import iptc' (plain)": ([sys.executable, "-c", "import iptc"], None),
    }
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(runs):
        for name, (argv, stdin) in methods.items():
            samples[name].append(measure(argv, stdin) * 1000)
    base = statistics.median(samples["python3 -c pass"])
    floor = statistics.median(samples["iptables-legacy-restore --noflush"])
    print(f"{runs} runs each, interleaved, fresh netns per run; median wall ms")
    print(f"{'method':40} {'median':>8} {'min':>8} {'x pass':>8} {'x restore':>9}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:40} {med:8.1f} {min(values):8.1f} {med / base:8.2f} {med / floor:9.2f}")
    ratio = statistics.median(samples["sidecar-init (default: auto -> iptc)"]) / base
    print(f"target <= 4.00 x python3 -c pass: {'MET' if ratio <= 4 else 'MISSED'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
