"""A Deployment through kube-controller-manager: every replica the ReplicaSet creates is injected.

The controller manager creates the pods (as the replicaset-controller ServiceAccount), so
each carries its own ``generateName``, uid and ServiceAccount token volume name: the shapes a
memo keyed on the exact pod never sees twice.
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes.client

from tests.cluster.harness import Cluster, container_names
from tests.cluster.webhook import Webhook

REPLICAS = 5


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def test_deployment_of_five_yields_five_injected_pods(
    webhook: Webhook, controller_manager: Cluster
) -> None:
    cluster = controller_manager
    namespace = cluster.namespace("deploy", {"istio-injection": "enabled"})
    apps: Any = kubernetes.client.AppsV1Api(cluster.api_client())  # takes a dict body
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    deadline = time.monotonic() + 30
    pods: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        pods = cluster.get("pods", "-n", namespace, "-l", "app=web")["items"]
        if len(pods) >= REPLICAS:
            break
        time.sleep(0.2)
    assert len(pods) == REPLICAS, f"{len(pods)} pods after 30 s"
    for pod in pods:
        assert container_names(pod) == ["istio-init", "istio-proxy", "app"], pod["metadata"]["name"]
        identity = {e["name"]: e.get("value") for e in _proxy(pod)["env"] if "value" in e}
        assert identity["ISTIO_META_WORKLOAD_NAME"] == "web"
    volumes = {
        v["name"]
        for pod in pods
        for v in pod["spec"]["volumes"]
        if v["name"].startswith("kube-api-access-")
    }
    assert len(volumes) == REPLICAS  # each replica its own token volume


def _proxy(pod: dict[str, Any]) -> dict[str, Any]:
    spec = pod["spec"]
    return next(
        c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "istio-proxy"
    )
