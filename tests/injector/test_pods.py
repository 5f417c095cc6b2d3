"""Containers by name: one lookup for both lists, and a replacement that mutates nothing."""

from __future__ import annotations

import copy
from typing import Any

from injector import pods

SPEC: dict[str, Any] = {
    "initContainers": [{"name": "istio-init", "args": ["-u", "1337"]}, "not a container"],
    "containers": [{"name": "app"}, {"name": "istio-proxy", "image": "proxy"}],
}


def test_a_container_is_found_in_either_list() -> None:
    assert pods.container(SPEC, "istio-init") == {"name": "istio-init", "args": ["-u", "1337"]}
    assert pods.container(SPEC, pods.PROXY) == {"name": "istio-proxy", "image": "proxy"}
    assert pods.container(SPEC, "missing") is None
    assert pods.container({"containers": None}, "app") is None


def test_init_containers_come_first_for_a_duplicate_name() -> None:
    spec = {"containers": [{"name": "x", "in": "c"}], "initContainers": [{"name": "x", "in": "i"}]}
    assert pods.container(spec, "x") == {"name": "x", "in": "i"}


def test_with_container_replaces_one_and_mutates_nothing() -> None:
    def change(container: dict[str, Any]) -> dict[str, Any]:
        container["image"] = "new"  # edits its argument: that must be a copy
        return container

    before = copy.deepcopy(SPEC)
    changed = pods.with_container(SPEC, pods.PROXY, change)
    assert SPEC == before
    assert changed["containers"] == [{"name": "app"}, {"name": "istio-proxy", "image": "new"}]
    assert changed["initContainers"] is SPEC["initContainers"]  # untouched lists are shared
    assert pods.with_container(SPEC, "missing", lambda c: {}) is SPEC
