"""Shared test helpers: Istio's test settings, semantic normalisation, schema validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from injector.config import InjectorConfig, load_config

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"
ISTIO = TESTDATA / "istio" / "inject"
OURS = TESTDATA / "inject"
K8S_VERSION = "1.34.0"

# The settings Istio's goldens were produced with (see testdata/istio/README.md).
ISTIO_VALUES = """
global:
  hub: registry.istio.io/testing
  tag: latest
  proxy_init:
    image: proxyv2
"""


def istio_config(native: bool = True, values: str = "", mesh: str | None = None) -> InjectorConfig:
    """Istio's test settings; ``values`` adds top-level values keys (e.g. ``pilot:``)."""
    return load_config(None, ISTIO_VALUES + values, mesh, native_sidecars=native)


def load_docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _maybe_json(value: str) -> Any:
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def normalize(obj: Any) -> Any:
    """Make Istio's Go-serialised output and ours comparable without hiding real differences.

    Removes only serialisation artifacts (``status: {}``, ``strategy: {}``, empty
    ``resources``/``metadata``, ``creationTimestamp: null``) and compares JSON-valued strings
    (env values, status/overrides annotations) as JSON. Quantities are compared as text: the
    canonical form (``3``, not ``3000m``) is part of the contract.
    """
    obj = copy.deepcopy(obj)
    return _norm(obj, "")


def _norm(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if v is None and k == "creationTimestamp":
                continue
            if v == {} and k in ("status", "strategy", "resources", "metadata"):
                continue
            if k in ("requests", "limits") and isinstance(v, dict):
                out[k] = {r: str(q) for r, q in v.items()}  # canonical text, as Istio writes
                continue
            if k == "fieldRef" and isinstance(v, dict):
                v = {fk: fv for fk, fv in v.items() if fk != "apiVersion"}
            out[k] = _norm(v, k)
        if key == "annotations":
            for name in ("sidecar.istio.io/status", "proxy.istio.io/overrides"):
                if name in out and isinstance(out[name], str):
                    parsed = json.loads(out[name])
                    parsed.pop("version", None)
                    out[name] = _norm(parsed, "")
        if "name" in out and "value" in out and isinstance(out["value"], str):
            out["value"] = _maybe_json(out["value"])
        return out
    if isinstance(node, list):
        return [_norm(item, key) for item in node]
    return node


def validate_object(obj: dict[str, Any]) -> None:
    """Raise if ``obj`` does not validate against the Kubernetes OpenAPI schema (strict)."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def validate_manifest(doc: dict[str, Any]) -> None:
    """``validate_object`` for every object of a document (List items, OpenShift templates)."""
    if doc.get("kind") == "List":
        for item in doc.get("items") or []:
            validate_manifest(item)
    elif doc.get("kind") == "DeploymentConfig":  # OpenShift: not in the Kubernetes schema
        validate_object(as_pod(doc["spec"]["template"]))
    else:
        validate_object(doc)


def as_pod(template: dict[str, Any], name: str = "validated") -> dict[str, Any]:
    metadata = dict(template.get("metadata") or {})
    metadata.setdefault("name", name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def replica_pod(
    annotations: dict[str, str] | None = None, stamp: str = "2026-11-21T12:00:00Z"
) -> dict[str, Any]:
    """A pod as the ReplicaSet of Deployment ``web`` creates it (no name yet)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-5d8f7c9b4-",
            "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4"},
            **({"annotations": annotations} if annotations else {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5d8f7c9b4",
                    "uid": "6a3c1f7e-0000-4000-8000-000000000001",
                    "controller": True,
                }
            ],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "time": stamp}
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"port": 80, "path": "/"}},
                }
            ]
        },
    }
