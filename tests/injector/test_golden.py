"""Golden cases: ``testdata/inject/NAME.yaml`` -> ``NAME.yaml.injected`` (``REFRESH_GOLDEN=1``).

A case may carry its own settings beside it: ``NAME.values.yaml`` (Istio values layout),
``NAME.mesh.yaml`` (mesh config), ``NAME.config.yaml`` (injector config),
``NAME.namespace.yaml`` (annotations of every namespace: OpenShift UID ranges). A case whose
input must be rejected has ``NAME.yaml.error`` (the expected message) instead.

Every case also checks, beyond the bytes:
- idempotency: injecting the output again changes nothing;
- the webhook path: the core's JSON Patch applied (with ``jsonpatch``) to each pod gives the
  pod the CLI wrote;
- every object of the output validates against the Kubernetes OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest
import yaml

from injector.config import InjectorConfig, load_config
from injector.core import InjectionParams, Injector
from injector.errors import ManifestError
from injector.identity import Workload
from injector.manifests import TEMPLATE_PATHS, transform
from tests.golden import REFRESH, assert_golden
from tests.injector.helpers import OURS, as_pod, load_docs, validate_manifest, validate_object

_SETTINGS = (".values.yaml", ".mesh.yaml", ".config.yaml", ".namespace.yaml")
CASES = sorted(
    p.name.removesuffix(".yaml") for p in OURS.glob("*.yaml") if not p.name.endswith(_SETTINGS)
)


def case_config(name: str) -> InjectorConfig:
    def read(suffix: str) -> str | None:
        path = OURS / f"{name}{suffix}"
        return path.read_text() if path.exists() else None

    return load_config(read(".config.yaml"), read(".values.yaml"), read(".mesh.yaml"))


def test_there_are_cases_and_no_stale_goldens() -> None:
    assert len(CASES) >= 20
    for path in list(OURS.glob("*.injected")) + list(OURS.glob("*.error")):
        source = path.name.removesuffix(".injected").removesuffix(".error")
        assert (OURS / source).exists(), f"{path.name} has no input"


def case_injector(name: str) -> Injector:
    """The case's config, and its namespace annotations as the webhook's watch gives them."""
    path = OURS / f"{name}.namespace.yaml"
    annotations = yaml.safe_load(path.read_text()) if path.exists() else None
    namespaces = (lambda _namespace: annotations) if annotations else None
    return Injector(case_config(name), namespaces=namespaces)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    text = (OURS / f"{name}.yaml").read_text()
    injector = case_injector(name)
    error_file = OURS / f"{name}.yaml.error"
    if error_file.exists() or (REFRESH and name.startswith("bad-")):
        with pytest.raises(ManifestError) as info:
            transform(text, injector)
        assert_golden(str(info.value) + "\n", error_file)
        return
    result = transform(text, injector)
    assert_golden(result.text, OURS / f"{name}.yaml.injected")
    _check_idempotent(result.text, injector)
    _check_webhook_path(text, result.text, injector)
    for doc in load_docs(result.text):
        validate_manifest(doc)


def _check_idempotent(output: str, injector: Injector) -> None:
    again = transform(output, injector)
    assert again.text == output, "injecting the injected output changed it"


def _pods(docs: list[Any]) -> list[tuple[str, Workload | None, dict[str, Any]]]:
    found = []
    for doc in docs:
        if doc.get("kind") == "List":
            found.extend(_pods(doc.get("items") or []))
            continue
        if doc.get("kind") not in TEMPLATE_PATHS:
            continue
        node = doc
        for step in TEMPLATE_PATHS[doc["kind"]]:
            node = node[step]
        meta = doc.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        workload = (
            None
            if doc["kind"] == "Pod"
            else Workload(meta.get("name", ""), ns, doc["kind"], doc["apiVersion"])
        )
        found.append((ns, workload, node))
    return found


def _check_webhook_path(source: str, output: str, injector: Injector) -> None:
    for (ns, workload, before), (*_, after) in zip(
        _pods(load_docs(source)), _pods(load_docs(output)), strict=True
    ):
        pod = {k: v for k, v in before.items() if k in ("metadata", "spec")}
        outcome = injector.inject(pod, InjectionParams(namespace=ns, workload=workload))
        if not outcome.injected:
            assert after == before
            continue
        patched = jsonpatch.apply_patch(pod, outcome.patch)  # type: ignore[union-attr]
        assert patched == outcome.pod  # type: ignore[union-attr]
        assert patched == {k: v for k, v in after.items() if k in ("metadata", "spec")}
        validate_object(as_pod(patched))


def test_golden_files_exist_for_every_case() -> None:
    missing = [
        name
        for name in CASES
        if not (OURS / f"{name}.yaml.injected").exists()
        and not (OURS / f"{name}.yaml.error").exists()
    ]
    assert not missing or REFRESH, f"cases without a golden: {missing}"
