"""What decoding a rendered Go template into a Kubernetes Pod does to it.

Istio reads a template's output into a typed ``corev1.Pod`` before merging, which writes
resource quantities in their canonical form (``2000m`` -> ``2``, a number -> its text). Our
merge works on plain data, so the same step is done here for the containers' resources.
"""

from __future__ import annotations

from typing import Any

from injector import quantity
from injector.errors import InjectionError


def as_pod(partial: dict[str, Any]) -> dict[str, Any]:
    spec = partial.get("spec")
    if not isinstance(spec, dict):
        return partial
    for field in ("initContainers", "containers"):
        containers = spec.get(field)
        if isinstance(containers, list):
            spec[field] = [_container(c) for c in containers]
    return partial


def _container(container: Any) -> Any:
    if not isinstance(container, dict) or not isinstance(container.get("resources"), dict):
        return container
    resources = dict(container["resources"])
    for section in ("requests", "limits"):
        entries = resources.get(section)
        if isinstance(entries, dict):
            resources[section] = {k: _quantity(k, v) for k, v in entries.items()}
    return {**container, "resources": resources}


def _quantity(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InjectionError(f"resources: {name}: {value!r} is not a quantity")
    try:
        return quantity.canonical(str(value))
    except ValueError as exc:
        raise InjectionError(f"resources: {name}: {exc}") from exc
