"""Shared helpers for the deployment tests: render the kustomizations, read Dockerfiles."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
BASE = MANIFESTS / "base"
FAIL_OPEN = MANIFESTS / "overlays" / "fail-open"
DOCKER = ROOT / "docker"
WEBHOOK_DOCKERFILE = DOCKER / "webhook.Dockerfile"
INIT_DOCKERFILE = DOCKER / "init.Dockerfile"
IMAGE_REPO = "ghcr.io/sidecar-injector"
K8S_VERSION = "1.33.0"

NAMESPACE = "sidecar-injector"
SECRET = "sidecar-injector-ca"
WEBHOOK_CONFIG = "sidecar-injector"
SERVICE = "sidecar-injector"
CONFIGMAP = "sidecar-injector"
# The entries of the MutatingWebhookConfiguration, and the namespaces none of them selects.
DOMAIN = "sidecar-injector.github.io"
NAMESPACE_HOOK = f"namespace.{DOMAIN}"
OBJECT_HOOK = f"object.{DOMAIN}"
REV_NAMESPACE_HOOK = f"rev.namespace.{DOMAIN}"
REV_OBJECT_HOOK = f"rev.object.{DOMAIN}"
EXCLUDED_NAMESPACES = {NAMESPACE, "kube-system", "kube-public", "kube-node-lease"}
WEBHOOK_PORT = 15017


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise AssertionError(
            "kubectl not found on PATH: the deployment tests render manifests/ with "
            "`kubectl kustomize` (kubectl >= 1.27, kustomize v5); install kubectl"
        )
    return path


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`, parsed; fails the test with kubectl's message on error."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


class Objects:
    """Rendered objects, looked up by kind (and name)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]


DEMO_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "app", "namespace": "demo", "labels": {"app": "demo"}},
    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
}


def mount(objects: Objects, directory: Path, name: str = CONFIGMAP) -> Path:
    """ConfigMap ``name`` written to ``directory`` one file per key, as the kubelet mounts it."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, text in objects.one("ConfigMap", name)["data"].items():
        (directory / key).write_text(text)
    return directory


def container_args(container: dict[str, Any]) -> dict[str, str | None]:
    """`--flag value` / `--switch` pairs of a container's args (after the subcommand)."""
    args = list(container["args"])
    parsed: dict[str, str | None] = {}
    i = 1 if args and not args[0].startswith("-") else 0
    while i < len(args):
        flag = args[i]
        assert flag.startswith("--"), f"unexpected positional argument {flag!r}"
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            parsed[flag], i = args[i + 1], i + 2
        else:
            parsed[flag], i = None, i + 1
    return parsed


# Dockerfiles ------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for op, args in self.instructions if op == instruction]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their instructions (continuations joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    stages: list[Stage] = []
    build_args: dict[str, str] = {}  # ARG name=default before the first FROM
    for line in logical:
        op, _, args = line.partition(" ")
        op, args = op.upper(), args.strip()
        if op == "ARG" and not stages:
            name, _, default = args.partition("=")
            build_args[name] = default
        elif op == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert m, f"{path}: cannot parse FROM {args!r}"
            base = re.sub(r"\$\{(\w+)\}", lambda v: build_args[v.group(1)], m.group(1))
            stages.append(Stage(base, m.group(2)))
        else:
            assert stages, f"{path}: {op} before FROM"
            stages[-1].instructions.append((op, args))
    return stages


def labels(stage: Stage) -> dict[str, str]:
    return _assignments(stage, "LABEL", r'([\w.\-]+)="([^"]*)"')


def env(stage: Stage) -> dict[str, str]:
    return _assignments(stage, "ENV", r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)")


def _assignments(stage: Stage, op: str, pattern: str) -> dict[str, str]:
    """``key=value`` pairs of every ``op`` instruction of ``stage``; later ones win."""
    return {key: value for args in stage.all(op) for key, value in re.findall(pattern, args)}


def image_of(dockerfile: Path) -> str:
    """The image a Dockerfile is meant to produce, from its final stage's OCI labels."""
    final = labels(parse_dockerfile(dockerfile)[-1])
    title = final["org.opencontainers.image.title"]
    version = final["org.opencontainers.image.version"]
    return f"{IMAGE_REPO}/{title}:{version}"


def dockerignore_includes(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern[1:] if negate else pattern
        glob = glob.strip("/")
        globs = [glob, glob.removeprefix("**/")] if glob.startswith("**/") else [glob]
        for candidate in candidates:
            tail = candidate.split("/")[-1]
            if any(
                fnmatch.fnmatchcase(candidate, g) or (g != glob and fnmatch.fnmatchcase(tail, g))
                for g in globs
            ):
                included = negate
                break
    return included


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
