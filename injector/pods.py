"""The pod's containers, by name: find one, or replace it.

A pod spec has two lists of containers, ``initContainers`` and ``containers``; the API server
requires a name to be unique across both, so in a pod it will accept a name finds at most
one container. The core looks containers up by name (``istio-proxy``, ``istio-init``, a
user's override) through these two functions only; in a pod with a duplicate name (which
the API server refuses) the first in ``CONTAINER_LISTS`` order is the one found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CONTAINER_LISTS = ("initContainers", "containers")
PROXY = "istio-proxy"


def container(spec: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The container called ``name``, in either list (``None``: there is none)."""
    found = _locate(spec, name)
    return found[2] if found else None


def with_container(
    spec: dict[str, Any], name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """``spec`` with the container ``name`` replaced by ``change(copy of it)``; ``spec`` itself
    when there is none. The input is not mutated: only the list holding it is new."""
    found = _locate(spec, name)
    if found is None:
        return spec
    field, index, current = found
    items = list(spec[field])
    items[index] = change(dict(current))
    return {**spec, field: items}


def _locate(spec: Mapping[str, Any], name: str) -> tuple[str, int, dict[str, Any]] | None:
    for field in CONTAINER_LISTS:
        for index, item in enumerate(spec.get(field) or ()):
            if isinstance(item, dict) and item.get("name") == name:
                return field, index, item
    return None
