"""Kubernetes strategic merge, the subset that pods need.

Lists that Kubernetes merges by a key (``containers`` by ``name``, ``volumeMounts`` by
``mountPath``, ``ports`` by ``containerPort``, ...) are merged item by item: original items
keep their order and are merged with the patch item of the same key, new patch items are
appended in patch order. Every other list is replaced. A ``None`` value in the patch deletes
the key.

Nothing is mutated: the result shares every subtree the patch does not touch with the
original (so a later diff can compare by identity), and new dicts/lists are built only along
the paths the patch changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# field name -> merge key, for the pod fields Kubernetes merges by key (patchMergeKey).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "ownerReferences": "uid",
}


def merge(original: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` onto ``original`` (a pod, or any part of one)."""
    if isinstance(original, Mapping) and isinstance(patch, Mapping):
        return _merge_maps(original, patch)
    return patch


def _merge_maps(original: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(original)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = _merge_maps(current, value)
        elif isinstance(current, list) and isinstance(value, list) and key in MERGE_KEYS:
            result[key] = merge_list(current, value, MERGE_KEYS[key])
        else:
            result[key] = value
    return result


def merge_list(original: list[Any], patch: list[Any], key: str) -> list[Any]:
    """Merge two lists of objects by ``key`` (order: original items, then new patch items)."""
    by_key = {item.get(key): item for item in patch if isinstance(item, Mapping)}
    merged: list[Any] = []
    seen: set[Any] = set()
    for item in original:
        item_key = item.get(key) if isinstance(item, Mapping) else None
        if item_key is not None and item_key in by_key:
            merged.append(_merge_maps(item, by_key[item_key]))
            seen.add(item_key)
        else:
            merged.append(item)
    for item in patch:
        item_key = item.get(key) if isinstance(item, Mapping) else None
        if item_key is None or item_key not in seen:
            merged.append(item)
            seen.add(item_key)
    return merged
