"""Container order after injection (Istio ``reorderPod``).

Native sidecars: ``istio-init``/``istio-validation`` first, then ``istio-proxy``, then the
user's init containers (which therefore run inside the mesh). Classic: ``istio-validation``
first, ``istio-init`` last among init containers (user init containers run before capture),
and ``istio-proxy`` last among containers (``kubectl exec``/``logs`` default to the app), or
first when the application is held until the proxy starts.
"""

from __future__ import annotations

from typing import Any


def _move(items: list[Any], name: str, first: bool) -> list[Any]:
    found = [c for c in items if isinstance(c, dict) and c.get("name") == name]
    if not found:
        return items
    rest = [c for c in items if c is not found[0]]
    return [found[0], *rest] if first else [*rest, found[0]]


def reorder(spec: dict[str, Any], hold_application: bool) -> dict[str, Any]:
    containers = list(spec.get("containers") or [])
    init = list(spec.get("initContainers") or [])
    if containers:
        spec["containers"] = _move(containers, "istio-proxy", first=hold_application)
    if any(isinstance(c, dict) and c.get("name") == "istio-proxy" for c in init):
        init = _move(init, "istio-proxy", first=True)
        init = _move(init, "istio-validation", first=True)
        init = _move(init, "istio-init", first=True)
    else:
        init = _move(init, "istio-validation", first=True)
        init = _move(init, "istio-init", first=False)
    if init or "initContainers" in spec:
        spec["initContainers"] = init
    return spec
