"""Whole-process wall time of ``sidecar-init`` applying Istio's default injection rules.

Run as root: ``python tests/benchmarks/bench_init.py [runs] [--baseline DIR]``. Each run of
each method gets its own fresh netns; the methods are interleaved and measured in the same
run; medians are reported as a ratio to ``python3 -c pass`` and to
``iptables-legacy-restore --noflush`` of the same rules. Target: sidecar-init, default
backend and ``--backend nft``, <= 4 x ``python3 -c pass``.

The command measured is the injected init container's (``istio-iptables -p 15001 ...``, info
logging to stderr, IPv6 auto-detected). The ``init`` package's bytecode is compiled first, as
``pip install`` does for the image; one row shows the cost without it. ``--baseline DIR``
adds rows for another copy of the ``init`` package (e.g. ``git archive <rev> init | tar -x -C
DIR``) measured in the same run. A timeline of the default run's phases follows.
"""

from __future__ import annotations

import compileall
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from init.config import build_config  # noqa: E402
from init.flags import parse_flags  # noqa: E402
from init.plan import Plan, build_plan  # noqa: E402
from init.render_nft import to_nft_text  # noqa: E402
from init.render_restore import to_restore_text  # noqa: E402
from tests.init.rootutil import INJECTED  # noqa: E402

CLONE_NEWNET = 0x40000000
TARGET = "sidecar-init (default: auto -> restore)"
NFT_TARGET = "sidecar-init --backend nft"

BREAKDOWN = r"""
import importlib.machinery, os, sys, time
T0, PARENT = time.perf_counter(), os.getpid()
WRAP = {  # module -> functions whose spans are reported, in whichever process runs them
    "init.flags": ("parse_flags",),
    "init.config": ("build_config",),
    "init.plan": ("build_plans",),
    "init.detect": ("choose_backend",),
    "init.apply": ("run",),
    "init.restore_backend": ("RestoreBackend.snapshot", "RestoreBackend.apply"),
}
def report(label, start):
    role = "main" if os.getpid() == PARENT else "worker"
    end = time.perf_counter()
    os.write(1, f"{role}: {label}\t{1000 * (start - T0):.2f}\t{1000 * (end - T0):.2f}\n".encode())
def wrap(module, path):
    owner_name, _, name = path.rpartition(".")
    owner = getattr(module, owner_name) if owner_name else module
    inner = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            report(path, start)
    setattr(owner, name, timed)
class Finder:  # wraps the functions as their module is first imported, before anyone binds them
    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname not in WRAP:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        execute = spec.loader.exec_module
        def exec_module(module):
            execute(module)
            for name in WRAP[fullname]:
                wrap(module, name)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Finder)
start = time.perf_counter()
import init.cli as cli
report("import init.cli", start)
start = time.perf_counter()
code = cli.main(sys.argv[1:])
report("main()", start)
sys.exit(code)
"""


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


# setuptools' distutils shim (distutils-precedence.pth in a venv) is most of python-iptables'
# import time; the init image's Python has no such shim. This is how the image imports.
STDLIB_DISTUTILS = {"SETUPTOOLS_USE_DISTUTILS": "stdlib"}


def _plan_v4() -> Plan:
    capture, _ = build_config(parse_flags([*INJECTED, "--ipv6", "off"], {}), {})
    return build_plan(capture, 4)


def _rules_text() -> str:
    return to_restore_text(_plan_v4())


def _nft_text() -> str:
    return to_nft_text(_plan_v4())


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_fresh_netns(
    argv: list[str], stdin: str | None, env: dict[str, str]
) -> tuple[float, float, str]:
    """Wall and CPU (user+sys) seconds of ``argv``, and its stdout, in a fresh netns."""
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
                cpu, start = _cpu(), time.perf_counter()
                done = subprocess.run(
                    argv,
                    input=stdin,
                    text=True,
                    capture_output=True,
                    env=env,
                    cwd=env["PYTHONPATH"],
                )  # in that directory: ``python -m`` imports from the working directory first
                elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
                value = f"{elapsed} {cpu}" if done.returncode == 0 else "-1 -1"
                os.write(write_end, f"{value}\n{done.stdout}".encode())
            finally:
                os._exit(0)
        os.close(fd)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            first, _, output = (pipe.read() or "-1 -1\n").partition("\n")
        os.waitpid(pid, 0)
        wall, cpu = (float(v) for v in first.split())
        if wall < 0:
            raise SystemExit(f"failed: {argv}")
        return wall, cpu, output
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def _without_bytecode(scratch: Path) -> dict[str, str]:
    """An environment importing a copy of ``init`` that has no bytecode and gets none."""
    copy = scratch / "without-bytecode" / "init"
    shutil.copytree(ROOT / "init", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return {**_env(copy.parent), "PYTHONDONTWRITEBYTECODE": "1"}


CONSOLE_SCRIPT = """\
import re
import sys
from {module} import {function}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({function}())
"""


def _console_script(scratch: Path, root: Path = ROOT) -> Path:
    """The ``sidecar-init`` script pip installs (the init image's ENTRYPOINT), verbatim, for
    the ``init`` package under ``root`` (a baseline older than ``entry`` gets ``main``)."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["sidecar-init"].partition(":")
    if f"def {function}(" not in (root / "init" / "cli.py").read_text():
        function = "main"
    path = scratch / f"sidecar-init-{abs(hash(root))}"
    path.write_text(CONSOLE_SCRIPT.format(module=module, function=function))
    return path


def _methods(
    baseline: Path | None, scratch: Path
) -> dict[str, tuple[list[str], str | None, dict[str, str]]]:
    """Name -> (argv, stdin, environment); files they need are written under ``scratch``."""
    env = _env(ROOT)
    init = [sys.executable, str(_console_script(scratch)), *INJECTED]
    methods = {
        "python3 -c pass": ([sys.executable, "-c", "pass"], None, env),
        "iptables-legacy-restore --noflush": (
            ["iptables-legacy-restore", "--noflush"],
            _rules_text(),
            env,
        ),
        "nft -f (the same rules, alone)": (["nft", "-f", "-"], _nft_text(), env),
        TARGET: (init, None, env),
        "sidecar-init --backend iptc": ([*init, "--backend", "iptc"], None, env),
        "sidecar-init --backend iptc, stdlib distutils": ([*init, "--backend", "iptc"], None,
                                                          {**env, **STDLIB_DISTUTILS}),
        NFT_TARGET: ([*init, "--backend", "nft"], None, env),
        "sidecar-init --dry-run": ([*init, "--dry-run"], None, env),
        "sidecar-init, init without .pyc (default)": (init, None, _without_bytecode(scratch)),
        "python3 -c 'import iptc' (venv)": ([sys.executable, "-c", "import iptc"], None, env),
        "python3 -c 'import iptc' (stdlib distutils)": (
            [sys.executable, "-c", "import iptc"], None, {**env, **STDLIB_DISTUTILS}),
    }  # fmt: skip
    if baseline is not None:
        base_env = _env(baseline)
        base = [sys.executable, str(_console_script(scratch, baseline)), *INJECTED]
        methods["baseline: sidecar-init (default)"] = (base, None, base_env)
        methods["baseline: sidecar-init --backend restore"] = (
            [*base, "--backend", "restore"],
            None,
            base_env,
        )
    return methods


def _breakdown(runs: int) -> None:
    spans: dict[str, tuple[list[float], list[float]]] = {}
    argv = [sys.executable, "-c", BREAKDOWN, *INJECTED]
    for _ in range(runs):
        *_, output = in_fresh_netns(argv, None, _env(ROOT))
        for line in output.splitlines():
            label, began, ended = line.split("\t")
            starts, ends = spans.setdefault(label, ([], []))
            starts.append(float(began))
            ends.append(float(ended))
    print(f"\ntimeline of the default run (median ms of {runs}, from the script's first line):")
    print(f"  {'span':46} {'start':>7} {'end':>7} {'took':>7}")
    rows = sorted((statistics.median(s), statistics.median(e), k) for k, (s, e) in spans.items())
    for start, end, label in rows:
        print(f"  {label:46} {start:7.2f} {end:7.2f} {end - start:7.2f}")


def main() -> None:
    args = sys.argv[1:]
    baseline = None
    if "--baseline" in args:
        index = args.index("--baseline")
        baseline = Path(args[index + 1]).resolve()
        del args[index : index + 2]
    runs = int(args[0]) if args else 15
    for root in (ROOT, baseline):
        if root is not None:  # bytecode as an installed package has it
            compileall.compile_dir(root / "init", quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-init-") as scratch:
        methods = _methods(baseline, Path(scratch))
        wall: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(runs):
            for name, (argv, stdin, env) in methods.items():
                seconds, cpu_seconds, _ = in_fresh_netns(argv, stdin, env)
                wall[name].append(seconds * 1000)
                cpu[name].append(cpu_seconds * 1000)
    print(f"{runs} runs each, interleaved, fresh netns per run; ms")
    print("CPU (user+sys) is the steadier figure when other work shares the machine")
    head = f"{'method':42} {'wall med':>8} {'min':>6} {'x pass':>6} {'x rest':>6}"
    print(f"{head} | {'cpu med':>7} {'min':>6} {'x pass':>6}")
    ratios = {}
    for name in methods:
        wall_med, cpu_med = statistics.median(wall[name]), statistics.median(cpu[name])
        wall_x = wall_med / statistics.median(wall["python3 -c pass"])
        wall_r = wall_med / statistics.median(wall["iptables-legacy-restore --noflush"])
        cpu_x = cpu_med / statistics.median(cpu["python3 -c pass"])
        ratios[name] = (wall_x, cpu_x)
        print(
            f"{name:42} {wall_med:8.1f} {min(wall[name]):6.1f} {wall_x:6.2f} {wall_r:6.2f}"
            f" | {cpu_med:7.1f} {min(cpu[name]):6.1f} {cpu_x:6.2f}"
        )
    for name in (TARGET, NFT_TARGET):
        wall_x, cpu_x = ratios[name]
        verdict = "MET" if wall_x <= 4 else "MISSED"
        print(
            f"{name}: target <= 4.00 x python3 -c pass (wall): {verdict} ({wall_x:.2f}; "
            f"cpu {cpu_x:.2f})"
        )
    _breakdown(max(3, runs // 3))


if __name__ == "__main__":
    main()
