"""What an earlier injection left on a pod, and how to remove it so injection is idempotent.

``sidecar.istio.io/status`` lists the containers, init containers and volumes the templates
injected. Stripping removes those containers (volumes and metadata are re-merged by name, so
they need no stripping) and the status annotation; the prometheus annotations we set are
replaced by the app's original ones, recovered from the old proxy's environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from injector import probes, prometheus

STATUS = "sidecar.istio.io/status"


@dataclass(frozen=True)
class Previous:
    """What the pod carried from an earlier injection (empty for a fresh pod)."""

    probers: dict[str, Any] = field(default_factory=dict)


def parse_status(text: str) -> dict[str, list[str]] | None:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    return {
        k: [n for n in doc.get(k) or [] if isinstance(n, str)]
        for k in ("containers", "initContainers")
    }


def strip(
    metadata: dict[str, Any], spec: dict[str, Any], target_port: str
) -> tuple[dict[str, Any], dict[str, Any], Previous]:
    """(metadata, spec) without the earlier injection, plus what it recorded."""
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    status = parse_status(annotations[STATUS]) if STATUS in annotations else None
    if status is None:
        return metadata, spec, Previous()
    old_proxy = _find(spec, "istio-proxy")
    new_spec = dict(spec)
    for field_name in ("containers", "initContainers"):
        names = set(status[field_name])
        if names and spec.get(field_name):
            new_spec[field_name] = [c for c in spec[field_name] if c.get("name") not in names]
    new_annotations = {k: v for k, v in annotations.items() if k != STATUS}
    ours = {
        "prometheus.io/port": target_port,
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/scrape": "true",
    }
    if all(new_annotations.get(k) == v for k, v in ours.items()):
        # Exactly what the merge writes: put the app's own scrape settings back (Istio strips
        # on the port alone, which loses a user's own "15020" on re-injection).
        for key in ours:
            del new_annotations[key]
        new_annotations.update(_original_scrape(old_proxy))
    new_metadata = {**metadata, "annotations": new_annotations}
    return new_metadata, new_spec, Previous(probes.previous(old_proxy))


def _find(spec: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for field_name in ("initContainers", "containers"):
        for c in spec.get(field_name) or []:
            if isinstance(c, dict) and c.get("name") == name:
                return c
    return None


def _original_scrape(proxy: Mapping[str, Any] | None) -> dict[str, str]:
    for env in (proxy or {}).get("env") or []:
        if isinstance(env, dict) and env.get("name") == prometheus.ENV:
            return prometheus.original_annotations(str(env.get("value") or ""))
    return {}


def status_annotation(template_spec: Mapping[str, Any], revision: str) -> str:
    def names(field_name: str) -> list[str] | None:
        found = [
            str(i.get("name")) for i in template_spec.get(field_name) or [] if isinstance(i, dict)
        ]
        return found or None

    return orjson.dumps(
        {
            "initContainers": names("initContainers"),
            "containers": names("containers"),
            "volumes": names("volumes"),
            "imagePullSecrets": names("imagePullSecrets"),
            "revision": revision or "default",
        }
    ).decode()
