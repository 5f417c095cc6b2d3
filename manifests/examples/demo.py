"""`make demo`: what the injector does to the bundled examples, using only the installed CLIs.

1. `injector check`: for each workload, whether it would be injected and why;
2. `injector inject`: what it adds to each workload, as a summary (and the size of
   `injector inject --diff`), rather than hundreds of lines of YAML, and whether
   `injector uninject` gives the file back;
3. `sidecar-init --dry-run` with the exact `istio-init` args injected into productpage:
   the iptables rules its init container will apply in the pod.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "bookinfo.yaml"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return found or name


def run(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode not in ok:
        sys.exit(f"demo: {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def section(title: str) -> None:
    heading = f"== {title}"
    print("\n" + (f"\033[1m{heading}\033[0m" if sys.stdout.isatty() else heading))


def main() -> None:
    section(f"injector check -f {EXAMPLE.name}")
    print(run(tool("injector"), "check", "-f", str(EXAMPLE)), end="")
    section(f"injector inject -f {EXAMPLE.name} (summary)")
    injected = run(tool("injector"), "inject", "-f", str(EXAMPLE))
    originals = list(yaml.safe_load_all(EXAMPLE.read_text()))
    for before, after in zip(originals, yaml.safe_load_all(injected), strict=True):
        for line in summary(before, after):
            print(line)
    diff = run(tool("injector"), "inject", "--diff", "-f", str(EXAMPLE), ok=(0, 1))
    added = sum(1 for line in diff.splitlines() if line.startswith("+") and line[:3] != "+++")
    removed = sum(1 for line in diff.splitlines() if line.startswith("-") and line[:3] != "---")
    print(f"`injector inject --diff -f {EXAMPLE.name}`: +{added} -{removed} lines")
    restored = subprocess.run(
        [tool("injector"), "uninject", "-f", "-"], input=injected, capture_output=True, text=True
    )
    same = restored.returncode == 0 and restored.stdout == EXAMPLE.read_text()
    verdict = "the file back byte for byte" if same else f"DIFFERENT (exit {restored.returncode})"
    print(f"`injector inject | injector uninject`: {verdict}")
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


def summary(before: Any, after: Any) -> list[str]:
    """One line per injected workload: what injection added to its pod template."""
    if before == after or not isinstance(after, dict):
        return []
    name = f"{after['kind']}/{after['metadata']['name']}"
    old, new = template(before), template(after)
    lines = [f"{name}:"]
    for field in ("initContainers", "containers", "volumes"):
        names = [i.get("name") for i in new["spec"].get(field) or []]
        kept = {i.get("name") for i in old["spec"].get(field) or []}
        if fresh := [n for n in names if n not in kept]:
            lines.append(f"  + {field}: {', '.join(fresh)}")
    for field in ("labels", "annotations"):
        kept = set((old.get("metadata") or {}).get(field) or {})
        fresh = [k for k in (new.get("metadata") or {}).get(field) or {} if k not in kept]
        if fresh:
            lines.append(f"  + {field}: {', '.join(fresh)}")
    return lines


def template(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    found: dict[str, Any] = spec["template"] if obj["kind"] != "Pod" else obj
    return found


if __name__ == "__main__":
    main()
