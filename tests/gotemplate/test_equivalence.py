"""Our Jinja ``sidecar`` template and its Go-syntax copy give the same pods on every golden.

The Jinja side is whatever ``injector/data/sidecar.yaml.j2`` says at test time (not frozen
output), so the check stays meaningful while either template changes. Pods are compared as
data. One difference is allowed, in env order only: Go ranges over a map (ProxyConfig
``proxyMetadata``) in sorted key order, Jinja in insertion order.

One variable is not in the Go copy: ``OTEL_RESOURCE_ATTRIBUTES`` (built from the mesh's
OpenTelemetry providers, percent-encoded), which Istio's template data does not offer. On the
one golden that sets it, the pods must differ by exactly that variable.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from injector import template
from injector.config import InjectorConfig
from injector.core import Injector
from injector.errors import InjectorError
from injector.manifests import transform
from tests.gotemplate.helpers import GO_SIDECAR
from tests.injector.helpers import load_docs
from tests.injector.test_golden import CASES, case_config


def with_go_sidecar(config: InjectorConfig) -> InjectorConfig:
    compiled = template.compile_template("sidecar", GO_SIDECAR.read_text())
    assert type(compiled).__name__ == "GoTemplate"
    return dataclasses.replace(config, templates={**config.templates, "sidecar": compiled})


def outcome(text: str, config: InjectorConfig) -> Any:
    try:
        return _env_sorted(load_docs(transform(text, Injector(config)).text))
    except InjectorError as exc:
        return f"error: {exc}"


def _env_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: sorted(v, key=str) if k == "env" and isinstance(v, list) else _env_sorted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_env_sorted(v) for v in value]
    return value


NOT_IN_GO_COPY = {"otel-attributes": "OTEL_RESOURCE_ATTRIBUTES"}


def _without_env(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return {
            k: [e for e in v if e.get("name") != name] if k == "env" else _without_env(v, name)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_env(v, name) for v in value]
    return value


@pytest.mark.parametrize("name", CASES)
def test_go_copy_injects_the_same_pods(name: str) -> None:
    text = (Path(__file__).parents[1] / "testdata" / "inject" / f"{name}.yaml").read_text()
    config = case_config(name)
    go, jinja = outcome(text, with_go_sidecar(config)), outcome(text, config)
    missing = NOT_IN_GO_COPY.get(name)
    if missing:
        assert go != jinja
        jinja = _without_env(jinja, missing)
    assert go == jinja


def test_the_go_copy_is_used() -> None:
    """Guard against a vacuous pass: a change in the Go copy shows in the injected pod."""
    text = (Path(__file__).parents[1] / "testdata" / "inject" / "deployment.yaml").read_text()
    config = with_go_sidecar(case_config("deployment"))
    broken = template.compile_template(
        "sidecar", GO_SIDECAR.read_text().replace("http-envoy-prom", "other-port")
    )
    changed = dataclasses.replace(config, templates={**config.templates, "sidecar": broken})
    assert outcome(text, changed) != outcome(text, config)
