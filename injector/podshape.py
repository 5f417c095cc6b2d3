"""The types of the pod fields injection reads, checked once before anything reads them.

The API server only sends pods it has decoded into typed objects, but ``injector inject``
reads whatever a file holds, and a pod author can write anything there. A field of the wrong
type is an ``InvalidPodError`` naming it (a 400 deny, or one CLI error line), not an
exception deep in the core or a merge that silently treats ``name: []`` as no name.

Only the fields the core merges by key or descends into are checked; the rest is left to
the API server, which validates the injected pod as it validates any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from injector.errors import InvalidPodError
from injector.pods import CONTAINER_LISTS

# list field -> {item field: the type it must have when present}
_NAMED: dict[str, type] = {"name": str}
_POD_LISTS: dict[str, dict[str, type]] = {
    "volumes": _NAMED,
    "imagePullSecrets": _NAMED,
}
_CONTAINER_LISTS: dict[str, dict[str, type]] = {
    "ports": {"containerPort": int, "name": str},
    "env": _NAMED,
    "volumeMounts": {"mountPath": str, "name": str},
}
_CONTAINER_OBJECTS = ("securityContext", "resources", "lifecycle")


def read(pod: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod's metadata and spec (shallow copies), once their types are right."""
    if not isinstance(pod, Mapping):
        raise InvalidPodError("the object is not a pod: expected a JSON object")
    metadata = pod.get("metadata")
    if metadata is None:
        metadata = {}
    spec = pod.get("spec")
    if not isinstance(metadata, Mapping):
        raise InvalidPodError("pod metadata must be an object")
    if not isinstance(spec, Mapping):
        raise InvalidPodError("pod has no spec")
    if not isinstance(spec.get("containers"), list):
        raise InvalidPodError("pod spec.containers must be a list of containers")
    _check_metadata(metadata)
    _check_spec(spec)
    return dict(metadata), dict(spec)


def check_partial(partial: Mapping[str, Any]) -> None:
    """The same checks on what a template renders: a partial pod (every part optional; label
    and annotation values may be numbers or booleans, which injection writes as strings)."""
    metadata = partial.get("metadata")
    spec = partial.get("spec")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidPodError("pod metadata must be an object")
        for key in ("labels", "annotations"):
            if not isinstance(metadata.get(key) or {}, Mapping):
                raise InvalidPodError(f"pod metadata.{key} must be an object")
    if spec is not None:
        if not isinstance(spec, Mapping):
            raise InvalidPodError("pod spec must be an object")
        _check_spec(spec)


def _check_spec(spec: Mapping[str, Any]) -> None:
    for key, fields in _POD_LISTS.items():
        _check_list(spec.get(key), f"spec.{key}", fields)
    context = spec.get("securityContext")
    if context is not None and not isinstance(context, Mapping):
        raise InvalidPodError("pod spec.securityContext must be an object")
    _check_list((context or {}).get("sysctls"), "spec.securityContext.sysctls", _NAMED)
    for key in CONTAINER_LISTS:
        items = spec.get(key) or []
        if not isinstance(items, list) or not all(isinstance(c, Mapping) for c in items):
            raise InvalidPodError(f"pod spec.{key} must be a list of containers")
        for i, container in enumerate(items):
            _check_container(container, f"spec.{key}[{i}]")


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    for key in ("name", "generateName", "namespace"):
        _check_type(metadata.get(key), f"metadata.{key}", str)
    for key in ("labels", "annotations"):
        values = metadata.get(key)
        if values is not None and not (
            isinstance(values, Mapping) and all(isinstance(v, str) for v in values.values())
        ):
            raise InvalidPodError(f"pod metadata.{key} must map strings to strings")
    _check_list(metadata.get("ownerReferences"), "metadata.ownerReferences", {})


def _check_container(container: Mapping[str, Any], where: str) -> None:
    _check_type(container.get("name"), f"{where}.name", str)
    for key, fields in _CONTAINER_LISTS.items():
        _check_list(container.get(key), f"{where}.{key}", fields)
    for key in _CONTAINER_OBJECTS:
        value = container.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise InvalidPodError(f"pod {where}.{key} must be an object")


def _check_list(items: Any, where: str, fields: Mapping[str, type]) -> None:
    """Lists run to thousands of items (env): a set of the types present settles the usual
    case in one pass; only a list holding something else is walked item by item, to name
    the field that is wrong."""
    if items is None:
        return
    if not isinstance(items, list):
        raise InvalidPodError(f"pod {where} must be a list of objects")
    if not {type(item) for item in items} <= _DICT and not all(
        isinstance(item, Mapping) for item in items
    ):
        raise InvalidPodError(f"pod {where} must be a list of objects")
    for key, wanted in fields.items():
        if {type(item.get(key)) for item in items} <= _ALLOWED[wanted]:
            continue
        for i, item in enumerate(items):
            _check_type(item.get(key), f"{where}[{i}].{key}", wanted)


_DICT = frozenset({dict})
_ALLOWED = {str: frozenset({str, type(None)}), int: frozenset({int, type(None)})}


def _check_type(value: Any, where: str, wanted: type) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise InvalidPodError(f"pod {where} must be {_KINDS[wanted]}, not {_kind(value)}")


_KINDS = {str: "a string", int: "an integer"}


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return _KINDS.get(type(value), type(value).__name__)
