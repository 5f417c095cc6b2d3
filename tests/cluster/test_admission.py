"""Pods created through the real API server with the shipped webhook configuration."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.cluster.harness import Cluster, container_names, create_pod, pod_body
from tests.cluster.webhook import Webhook

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_names = itertools.count()


def _name(prefix: str = "p") -> str:
    return f"{prefix}-{next(_names)}"


@pytest.fixture(scope="module")
def core(installed: Cluster) -> Any:
    return installed.core()


@pytest.fixture(scope="module")
def enabled(installed: Cluster) -> str:
    return installed.namespace("enabled", {"istio-injection": "enabled"})


def test_pod_in_enabled_namespace_is_injected(webhook: Webhook, core: Any, enabled: str) -> None:
    pod = create_pod(core, enabled, pod_body(_name()))
    assert container_names(pod) == ["istio-init", "istio-proxy", "app"]
    assert "sidecar.istio.io/status" in pod["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("namespace_labels", "pod_labels", "host_network"),
    [
        ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, False),
        ({}, None, False),
        ({"istio-injection": "disabled"}, None, False),
        ({"istio-injection": "enabled"}, None, True),
    ],
    ids=["opt-out-label", "plain-namespace", "namespace-disabled", "host-network"],
)
def test_not_injected(
    webhook: Webhook,
    installed: Cluster,
    core: Any,
    namespace_labels: dict[str, str],
    pod_labels: dict[str, str] | None,
    host_network: bool,
) -> None:
    namespace = installed.namespace(_name("ns"), namespace_labels)
    pod = create_pod(
        core, namespace, pod_body(_name(), labels=pod_labels, host_network=host_network)
    )
    assert container_names(pod) == ["app"]


def test_kube_system_is_never_injected(webhook: Webhook, installed: Cluster, core: Any) -> None:
    installed.kubectl("label", "namespace", "kube-system", "istio-injection=enabled", "--overwrite")
    try:
        installed.namespace("kube-system", {"istio-injection": "enabled"})
        pod = create_pod(core, "kube-system", pod_body(_name()))
        assert container_names(pod) == ["app"]
    finally:
        installed.kubectl("label", "namespace", "kube-system", "istio-injection-")


def test_bad_annotation_is_denied_naming_it(webhook: Webhook, core: Any, enabled: str) -> None:
    body = pod_body(_name(), annotations={"sidecar.istio.io/proxyCPU": "lots"})
    with pytest.raises(ApiException) as caught:
        create_pod(core, enabled, body)
    assert caught.value.status in (400, 403)
    assert "sidecar.istio.io/proxyCPU" in (caught.value.body or "")
