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


# One-of fields (Kubernetes validates that exactly one is set): when the patch sets one of
# them, the others go, or merging a user's `exec` probe over our `httpGet` one would leave both
# and the API server would reject the pod. Volumes are one-of over every source (what the API
# marks retainKeys), written here as ANY_BUT_KEY.
HANDLERS = frozenset({"exec", "httpGet", "tcpSocket", "grpc", "sleep"})
ANY_BUT_KEY = frozenset({"*"})
ONE_OF: dict[str, frozenset[str]] = {
    "readinessProbe": HANDLERS,
    "livenessProbe": HANDLERS,
    "startupProbe": HANDLERS,
    "postStart": HANDLERS,
    "preStop": HANDLERS,
}
ITEM_ONE_OF: dict[str, frozenset[str]] = {
    "env": frozenset({"value", "valueFrom"}),
    "volumes": ANY_BUT_KEY,
}
_NONE: frozenset[str] = frozenset()


def merge(original: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` onto ``original`` (a pod, or any part of one)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        return _merge_maps(original, patch)
    return patch


def _merge_maps(
    original: Mapping[str, Any], patch: Mapping[str, Any], one_of: frozenset[str] = _NONE
) -> dict[str, Any]:
    result = dict(original)
    if one_of:
        _drop_other_members(result, patch, one_of)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = _merge_maps(current, value, ONE_OF.get(key, _NONE))
        elif isinstance(current, list) and isinstance(value, list) and key in MERGE_KEYS:
            result[key] = merge_list(current, value, MERGE_KEYS[key], ITEM_ONE_OF.get(key, _NONE))
        else:
            result[key] = value
    return result


def _drop_other_members(
    result: dict[str, Any], patch: Mapping[str, Any], one_of: frozenset[str]
) -> None:
    if one_of is ANY_BUT_KEY:
        members, chosen = set(result) - {"name"}, set(patch) - {"name"}
    else:
        members, chosen = set(one_of & result.keys()), set(one_of & patch.keys())
    if chosen:
        for member in members - chosen:
            del result[member]


def merge_list(
    original: list[Any], patch: list[Any], key: str, one_of: frozenset[str] = _NONE
) -> list[Any]:
    """Merge two lists of objects by ``key``, ordered as Kubernetes orders them.

    Patch items (merged with the original item of the same key, if any) keep the patch's
    order; original-only items keep theirs; the two are interleaved like apimachinery's
    ``mergeSortedSlice``: an original-only item goes first only if it stood before the
    next patch item in the original list.
    """
    position = {
        _key(item, key): i for i, item in enumerate(original) if _key(item, key) is not None
    }
    identity = {id(item): i for i, item in enumerate(original)}
    patched_keys = {_key(item, key) for item in patch} - {None}
    right: list[Any] = []
    right_pos: list[int | None] = []
    seen: set[Any] = set()
    for item in patch:
        item_key = _key(item, key)
        if item_key is not None and item_key in seen:
            continue
        seen.add(item_key)
        if item_key in position:
            right.append(_merge_maps(original[position[item_key]], item, one_of))
            right_pos.append(position[item_key])
        else:
            right.append(item)
            right_pos.append(None)
    left = [
        item for item in original if _key(item, key) not in patched_keys or _key(item, key) is None
    ]
    merged: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right) or (
            i < len(left) and right_pos[j] is not None and identity[id(left[i])] < right_pos[j]  # type: ignore[operator]
        ):
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged


def _key(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None
