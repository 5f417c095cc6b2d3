"""The layering of the packages, checked: the core never imports the webhook wing.

``injector/`` outside ``injector/webhook/`` is the core: pod + config -> injected pod, the CLI
and its helpers. It must import with the core dependencies alone (``pip install
sidecar-injector``), so it may not import the wing, nor any package that only the ``[webhook]``
extra installs (FastAPI, uvicorn, starlette, pydantic, prometheus-client, the kubernetes client
and everything they pull in). Those are imported by the wing and by ``certs/`` (the optional
part the ``[certs]`` extra installs). ``init/`` is a program of its own and imports neither.

Two imports cross on purpose, each inside a function so that importing the module stays cheap:
the CLI dispatches ``injector serve`` to the wing and ``injector certs`` to ``certs``, and
``injector check --kubeconfig`` reads the cluster with the kubernetes client.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
WING = "injector.webhook"
OUR_OPTIONAL = {"certs"}  # our own package, installed with the [certs] extra's dependencies
# Module -> the top-level packages it may import inside a function, outside the wing.
LAZY_CROSSINGS = {
    "injector.cli": {"injector", "certs"},  # `serve` -> injector.webhook.server, `certs`
    "injector.clustercheck": {"kubernetes", "urllib3"},  # `check`/`inject --kubeconfig`
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted and absolute
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[Import]:
    """Every import in a source file, relative ones made absolute."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(name, alias.name, child.lineno, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                yield Import(name, base, child.lineno, in_function)
                for alias in child.names:  # `from injector import webhook` imports a module
                    yield Import(name, f"{base}.{alias.name}", child.lineno, in_function)
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from visit(child, inner)

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def in_wing(module: str) -> bool:
    return module == WING or module.startswith(WING + ".")


def _closure(requirements: Iterable[str]) -> set[str]:
    """Distribution names of ``requirements`` and everything they require, as installed."""
    seen: set[str] = set()
    stack = [Requirement(r) for r in requirements]
    while stack:
        req = stack.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for text in dist.requires or ():
            sub = Requirement(text)
            extras = {"", *req.extras}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                stack.append(sub)
    return seen


def webhook_only_packages() -> set[str]:
    """Top-level import names installed by the [webhook] extra and not by the core's deps."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    only = _closure(project["optional-dependencies"]["webhook"]) - _closure(project["dependencies"])
    by_dist: dict[str, set[str]] = {}
    for top, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(dist.lower().replace("_", "-"), set()).add(top)
    return {top for dist in only for top in by_dist.get(dist, ()) if not top.startswith("_")}


FORBIDDEN = webhook_only_packages() | OUR_OPTIONAL


def test_the_webhook_only_packages_are_known() -> None:
    # Guards the computation below: an empty set would make every other test pass.
    assert {"fastapi", "uvicorn", "starlette", "prometheus_client", "kubernetes"} <= FORBIDDEN
    assert not FORBIDDEN & {"yaml", "ruamel", "jinja2", "orjson", "jsonpatch", "yaml_rs"}


def test_the_core_never_imports_the_wing() -> None:
    bad = [
        f"{i.module}:{i.line} imports {i.target}"
        for path in sources("injector", "init", "certs")
        for i in imports_of(path)
        if not in_wing(i.module)
        and in_wing(i.target)
        and not (i.in_function and "injector" in LAZY_CROSSINGS.get(i.module, ()))
    ]
    assert bad == []


def test_the_webhook_extra_is_imported_only_in_the_wing_and_certs() -> None:
    bad = [
        f"{i.module}:{i.line} imports {i.target}"
        for path in sources("injector", "init")
        for i in imports_of(path)
        if not in_wing(i.module)
        and (top := i.target.partition(".")[0]) in FORBIDDEN
        and not (i.in_function and top in LAZY_CROSSINGS.get(i.module, ()))
    ]
    assert bad == []


def test_the_crossings_are_still_needed() -> None:
    # An exception nobody uses any more is a hole in the fence: remove it.
    for module, allowed in LAZY_CROSSINGS.items():
        path = ROOT / (module.replace(".", "/") + ".py")
        used = {
            i.target.partition(".")[0]
            for i in imports_of(path)
            if i.in_function and (in_wing(i.target) or i.target.partition(".")[0] in FORBIDDEN)
        }
        assert used == allowed, module


@pytest.mark.parametrize("package", ["injector", "init"], ids=["injector core", "init"])
def test_the_core_imports_without_the_webhook_extra(package: str) -> None:
    """Import every module outside the wing with the extra's packages made unimportable."""
    modules = [
        name
        for name in map(module_name, sources(package))
        if not in_wing(name) and not name.endswith(".__main__")  # __main__ runs the program
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {sorted(FORBIDDEN)!r}:\n"
        "    sys.modules[name] = None  # `import name` raises ImportError\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module)\n"
        "print(sorted(m for m in sys.modules if m.startswith('injector.webhook')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
