"""Re-injection of a pod the API server stored: empty when current, foreign mounts kept."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from injector import reinjection
from injector.config import InjectorConfig
from injector.core import Injected, inject
from tests.injector.helpers import istio_config

SA = {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}


@pytest.mark.parametrize(
    ("pod", "injected", "current"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": [{"x": 1, "d": 0}, {"y": 2}]}, {"a": [{"x": 1}]}, True),
        ({"a": [{"x": 1}]}, {"a": [{"x": 1}, {"y": 2}]}, False),
        ({"a": [{"x": 2}]}, {"a": [{"x": 1}]}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": {}}, {"a": []}, False),
    ],
)
def test_is_current_is_a_nested_subset(pod: Any, injected: Any, current: bool) -> None:
    assert reinjection.is_current(pod, injected) is current


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "app:1", "volumeMounts": [SA]}]},
    }


def _as_stored(pod: dict[str, Any]) -> dict[str, Any]:
    """What the API server does after our patch: mounts its token into every container."""
    stored = copy.deepcopy(pod)
    for c in stored["spec"].get("initContainers", []) + stored["spec"]["containers"]:
        mounts = c.setdefault("volumeMounts", [])
        if SA not in mounts:
            mounts.append(dict(SA))
        c.setdefault("terminationMessagePath", "/dev/termination-log")
    return stored


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    spec = pod["spec"]
    return next(c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name)


def _injected(pod: dict[str, Any], config: InjectorConfig) -> Injected:
    outcome = inject(pod, config)
    assert isinstance(outcome, Injected), outcome
    return outcome


def test_a_stored_injected_pod_gets_an_empty_patch() -> None:
    config = istio_config()
    first = _injected(_pod(), config)
    stored = _as_stored(first.pod)
    second = _injected(stored, config)
    assert second.injected
    assert second.patch == []
    assert second.pod == stored


def test_reinjection_keeps_mounts_another_plugin_added() -> None:
    config = istio_config()
    stored = _as_stored(_injected(_pod(), config).pod)
    stored["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] = "250m"
    again = _injected(stored, config)
    assert again.patch
    proxy = _container(again.pod, "istio-proxy")
    assert proxy["resources"]["requests"]["cpu"] == "250m"
    assert SA in proxy["volumeMounts"]
    assert SA in _container(again.pod, "istio-init")["volumeMounts"]
