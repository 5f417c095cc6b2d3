"""`make demo`: what the injector does to the bundled examples, using only the installed CLIs.

1. `injector check`: for each workload, whether it would be injected and why;
2. `injector inject`: the injected manifests;
3. `sidecar-init --dry-run` with the exact `istio-init` args injected into productpage:
   the iptables rules its init container will apply in the pod.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "bookinfo.yaml"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return found or name


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def section(title: str) -> None:
    heading = f"== {title}"
    print("\n" + (f"\033[1m{heading}\033[0m" if sys.stdout.isatty() else heading))


def main() -> None:
    section(f"injector check -f {EXAMPLE.name}")
    print(run(tool("injector"), "check", "-f", str(EXAMPLE)), end="")
    section(f"injector inject -f {EXAMPLE.name}")
    injected = run(tool("injector"), "inject", "-f", str(EXAMPLE))
    print(injected, end="")
    deployment = next(
        d for d in yaml.safe_load_all(injected) if d and d["metadata"]["name"] == "productpage-v1"
    )
    init = next(
        c
        for c in deployment["spec"]["template"]["spec"]["initContainers"]
        if c["name"] == "istio-init"
    )
    shown = " ".join(repr(a) if not a or "*" in a else a for a in init["args"])
    section(f"sidecar-init {shown} --dry-run")
    print(run(tool("sidecar-init"), *init["args"], "--dry-run"), end="")


if __name__ == "__main__":
    main()
