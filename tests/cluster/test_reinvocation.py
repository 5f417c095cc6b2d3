"""Defect: with ``reinvocationPolicy: IfNeeded`` the server calls us again after its plugins ran.

The ServiceAccount admission plugin re-runs after our patch and mounts its token into the
containers we added; the second call must answer an empty patch, and any re-injection must
keep what another plugin added to our containers.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest

from tests.cluster.harness import Cluster, create_pod, pod_body
from tests.cluster.webhook import Webhook

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_names = itertools.count()


def _mounts(pod: dict[str, Any], name: str) -> list[str]:
    spec = pod["spec"]
    for c in (spec.get("initContainers") or []) + spec["containers"]:
        if c["name"] == name:
            return [m["mountPath"] for m in c.get("volumeMounts") or []]
    raise AssertionError(f"no container {name}")


def _review(pod: dict[str, Any]) -> dict[str, Any]:
    """The AdmissionReview the server sends for ``pod`` (as on a reinvocation)."""
    request = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": pod["metadata"]["namespace"],
        "operation": "CREATE",
        "userInfo": {"username": "admin"},
        "object": pod,
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _patch(answer: dict[str, Any]) -> list[dict[str, Any]]:
    response = answer["response"]
    assert response["allowed"], response
    if "patch" not in response:
        return []
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return ops


@pytest.fixture(scope="module")
def stored(webhook: Webhook, installed: Cluster) -> Iterator[dict[str, Any]]:
    """A pod the server stored after calling us twice (``IfNeeded``; we ship ``Never``)."""
    namespace = installed.namespace("reinvoke", {"istio-injection": "enabled"})
    core = installed.core()
    installed.set_reinvocation("IfNeeded")
    try:
        deadline = time.monotonic() + 10
        while True:  # until the server's informer has the new policy
            _, before = installed.webhook_totals()
            pod = create_pod(core, namespace, pod_body(f"r-{next(_names)}"))
            _, after = installed.webhook_totals()
            if after - before == 2:
                break
            assert time.monotonic() < deadline, f"{after - before} calls per pod after 10 s"
            time.sleep(0.2)
        yield pod
    finally:
        installed.set_reinvocation("Never")


@pytest.mark.parametrize("container", ["app", "istio-init", "istio-proxy"])
def test_stored_containers_keep_the_service_account_mount(
    stored: dict[str, Any], container: str
) -> None:
    assert SA_MOUNT in _mounts(stored, container)


def test_a_second_call_on_the_stored_pod_is_an_empty_patch(
    webhook: Webhook, stored: dict[str, Any]
) -> None:
    assert _patch(webhook.review(_review(stored))) == []


def test_reinjection_with_a_change_keeps_the_foreign_mount(
    webhook: Webhook, stored: dict[str, Any]
) -> None:
    changed = copy.deepcopy(stored)
    changed["metadata"]["annotations"]["sidecar.istio.io/proxyCPU"] = "250m"
    ops = _patch(webhook.review(_review(changed)))
    assert ops, "a changed annotation must re-inject"
    result = jsonpatch.apply_patch(changed, ops)
    proxy = next(c for c in result["spec"]["initContainers"] if c["name"] == "istio-proxy")
    assert proxy["resources"]["requests"]["cpu"] == "250m"
    assert SA_MOUNT in _mounts(result, "istio-proxy")
    assert SA_MOUNT in _mounts(result, "istio-init")
