"""RFC 6902 JSON Patch from the original pod to the injected pod, in linear time.

This is not a generic document diff (those are quadratic on long lists: Istio measured 15 s
for a pod with 1,500 env vars). The injected pod shares every untouched subtree with the
original *by identity*, so most comparisons stop at ``is``; lists are compared by their
common prefix and suffix, so inserting our containers at the front or the end of a list
costs one ``add`` per new item, and changed items in the middle are diffed in place.
``managedFields`` and ``status`` are never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Op = dict[str, Any]
_SKIPPED_TOP = frozenset({"status"})
_SKIPPED_META = frozenset({"managedFields"})
_NOTHING: frozenset[str] = frozenset()


def escape(token: str) -> str:
    """JSON Pointer escaping of one path token (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    if "~" not in token and "/" not in token:
        return token
    return token.replace("~", "~0").replace("/", "~1")


def make_patch(original: Mapping[str, Any], injected: Mapping[str, Any]) -> list[Op]:
    """Ops that turn ``original`` into ``injected`` (both pods; ``status`` is ignored)."""
    ops: list[Op] = []
    _diff_map(original, injected, "", ops, _SKIPPED_TOP)
    return ops


def _diff(old: Any, new: Any, path: str, ops: list[Op]) -> None:
    if old is new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        _diff_map(old, new, path, ops, _SKIPPED_META if path == "/metadata" else _NOTHING)
    elif isinstance(old, list) and isinstance(new, list):
        _diff_list(old, new, path, ops)
    elif type(old) is not type(new) or old != new:
        ops.append({"op": "replace", "path": path, "value": new})


def _diff_map(
    old: Mapping[str, Any], new: Mapping[str, Any], path: str, ops: list[Op], skip: frozenset[str]
) -> None:
    for key, value in old.items():
        if key in skip:
            continue
        if key in new:
            current = new[key]
            if current is not value:  # shared subtrees (most of a pod) cost one identity test
                _diff(value, current, f"{path}/{escape(key)}", ops)
        else:
            ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
    for key, value in new.items():
        if key not in old and key not in skip:
            ops.append({"op": "add", "path": f"{path}/{escape(key)}", "value": value})


def _same(a: Any, b: Any) -> bool:
    """Equal list items: identity first, then value equality (done in C). Items of keyed
    lists (containers, env, volumes) with different names are told apart without it."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and a.get("name") != b.get("name"):
        return False
    return bool(a == b)


def _diff_list(old: list[Any], new: list[Any], path: str, ops: list[Op]) -> None:
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and _same(old[prefix], new[prefix]):
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and _same(old[len(old) - 1 - suffix], new[len(new) - 1 - suffix]):
        suffix += 1
    old_mid = old[prefix : len(old) - suffix]
    new_mid = new[prefix : len(new) - suffix]
    common = min(len(old_mid), len(new_mid))
    for i in range(common):
        _diff(old_mid[i], new_mid[i], f"{path}/{prefix + i}", ops)
    # Remove surplus old items from the highest index down, so indexes stay valid.
    for i in range(len(old_mid) - 1, common - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{prefix + i}"})
    for i in range(common, len(new_mid)):
        # Appending (nothing after us) uses "-"; inserting names the index.
        target = "-" if suffix == 0 else str(prefix + i)
        ops.append({"op": "add", "path": f"{path}/{target}", "value": new_mid[i]})
