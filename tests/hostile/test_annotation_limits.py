"""Annotations whose injected pod the API server would refuse are denied, naming the annotation.

Each refused case below was found by creating the injected pod on kube-apiserver v1.35
(``dryRun=All``, on a fresh control plane of tests/cluster): the server refused it (the
message it gave is in the comment), while the injector had accepted the annotation. The
accepted cases are values the server takes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from injector import annotations as ann
from injector import podshape, uservolumes
from injector.config import default_config
from injector.core import InjectionParams, Injector
from injector.errors import AnnotationError
from tests.cluster.controlplane import ControlPlane
from tests.cluster.harness import running_cluster

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"sidecar.istio.io/inject": "true"}},
    "spec": {"serviceAccountName": "default", "containers": [{"name": "app", "image": "app"}]},
}
VOLUME = "sidecar.istio.io/userVolume"
MOUNT = "sidecar.istio.io/userVolumeMount"
EMPTY_V = json.dumps({"v": {"emptyDir": {}}})


def inject(annotations: dict[str, str]) -> dict[str, Any]:
    pod = copy.deepcopy(POD)
    pod["metadata"]["annotations"] = annotations
    outcome = Injector(default_config(), cache_bytes=0).inject(pod, InjectionParams("default"))
    assert outcome.injected
    return outcome.pod  # type: ignore[union-attr]


REFUSED = [
    # json: cannot unmarshal number 4294967295 into ... of type int32
    ({"readiness.status.sidecar.istio.io/initialDelaySeconds": "4294967295"}, "0 to 2147483647"),
    ({"readiness.status.sidecar.istio.io/periodSeconds": "2147483648"}, "0 to 2147483647"),
    ({"readiness.status.sidecar.istio.io/failureThreshold": "2147483648"}, "0 to 2147483647"),
    # resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0
    ({"sidecar.istio.io/proxyCPU": "-1"}, "proxyCPU: '-1' is negative"),
    ({"sidecar.istio.io/proxyMemoryLimit": "-1Gi"}, "proxyMemoryLimit: '-1Gi' is negative"),
    # resources.requests: Invalid value: "3": must be less than or equal to cpu limit of 1
    (
        {"sidecar.istio.io/proxyCPU": "3", "sidecar.istio.io/proxyCPULimit": "1"},
        "proxyCPU: '3' is more than sidecar.istio.io/proxyCPULimit '1'",
    ),
    (
        {"sidecar.istio.io/proxyMemory": "2Gi", "sidecar.istio.io/proxyMemoryLimit": "1Gi"},
        "proxyMemory: '2Gi' is more than sidecar.istio.io/proxyMemoryLimit '1Gi'",
    ),
    # image: Invalid value: " reg/x": must not have leading or trailing whitespace
    ({"sidecar.istio.io/proxyImage": " reg/proxy"}, "leading or trailing whitespace"),
    ({"sidecar.istio.io/proxyImage": "reg/proxy\n"}, "leading or trailing whitespace"),
    # spec.volumes[9].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must ...
    ({VOLUME: '{"Bad_Name": {"emptyDir": {}}}'}, "'Bad_Name' is not a lowercase RFC 1123 label"),
    ({VOLUME: json.dumps({"v" * 64: {"emptyDir": {}}})}, "RFC 1123 label of at most 63"),
    # spec.volumes[9].configMap: Forbidden: may not specify more than 1 volume type
    ({VOLUME: '{"v": {"emptyDir": {}, "configMap": {"name": "x"}}}'}, "only one volume type"),
    # cannot unmarshal string into Go struct field ... emptyDir of type v1.EmptyDirVolumeSource
    ({VOLUME: '{"v": {"emptyDir": "x"}}'}, "emptyDir must be an object"),
    # spec.volumes[9].name: Duplicate value: "istio-envoy"
    ({VOLUME: '{"istio-envoy": {"emptyDir": {}}}'}, "volume name 'istio-envoy' is already used"),
    # volumeMounts[9].mountPath: Invalid value: "/etc/istio/proxy": must be unique
    (
        {VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": "/etc/istio/proxy"}}'},
        f"{MOUNT}: mountPath '/etc/istio/proxy' is already used in istio-proxy",
    ),
    # volumeMounts[9].name: Not found: "nosuch"
    ({MOUNT: '{"nosuch": {"mountPath": "/x"}}'}, "the pod has no volume 'nosuch'"),
    # volumeMounts[9].mountPath: Required value
    ({VOLUME: EMPTY_V, MOUNT: '{"v": {}}'}, "mount 'v' needs a mountPath string"),
    ({VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": 5}}'}, "mount 'v' needs a mountPath string"),
    # volumeMounts.subPath: Invalid value: "/abs": must be a relative path
    (
        {VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": "/x", "subPath": "/abs"}}'},
        "subPath must be a relative path",
    ),
    (
        {VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": "/x", "readOnly": "yes"}}'},
        "readOnly must be true or false",
    ),
    # volumeMounts.mountPropagation: Unsupported value: "Bogus"
    (
        {VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": "/x", "mountPropagation": "Bogus"}}'},
        "mountPropagation must be one of",
    ),
    # env[0].name: Required value / Invalid value: "A=B": a valid environment variable name ...
    ({"proxy.istio.io/config": 'proxyMetadata: {"": x}'}, "'' is not an environment variable"),
    ({"proxy.istio.io/config": 'proxyMetadata: {"A=B": x}'}, "'A=B' is not an environment"),
    ({"proxy.istio.io/config": 'proxyMetadata: {"A\\tB": x}'}, "is not an environment variable"),
]


# Accepted by the API server, but istio-init cannot start: a flag, or a name the kernel refuses.
INIT_REFUSED = [
    ({"traffic.sidecar.istio.io/excludeInterfaces": "-eth0"}, "interface name(s) '-eth0'"),
    ({"traffic.sidecar.istio.io/excludeInterfaces": "eth0:1"}, "interface name(s) 'eth0:1'"),
    ({"istio.io/reroute-virtual-interfaces": "\u00e9" * 8}, "invalid interface name"),  # 16 bytes
    ({"traffic.sidecar.istio.io/excludeOutboundIPRanges": "fe80::1%eth0/64"}, "invalid CIDR"),
]


@pytest.mark.parametrize(("annotations", "message"), REFUSED + INIT_REFUSED)
def test_what_the_api_server_refuses_is_denied_naming_the_annotation(
    annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(AnnotationError) as denied:
        inject(annotations)
    text = str(denied.value)
    assert message in text
    assert any(f"annotation {name}" in text for name in annotations)


ACCEPTED = [
    {"readiness.status.sidecar.istio.io/periodSeconds": "0"},  # the server defaults 0
    {"readiness.status.sidecar.istio.io/initialDelaySeconds": "2147483647"},
    {"sidecar.istio.io/proxyCPU": "1e18"},
    {"sidecar.istio.io/proxyMemory": "+1Gi", "sidecar.istio.io/proxyMemoryLimit": "1Gi"},
    {"sidecar.istio.io/proxyCPU": "3"},  # no limit annotation: the block is replaced whole
    {"traffic.sidecar.istio.io/excludeInterfaces": "eth0,net-1,\u00e9th0"},
    {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.1/8,fe80::/64"},
    {VOLUME: '{"v": {}}'},  # the server makes it an emptyDir
    {VOLUME: EMPTY_V, MOUNT: '{"v": {"mountPath": "/x", "subPath": "a/b", "readOnly": true}}'},
    {"proxy.istio.io/config": 'proxyMetadata: {"bad key": x, "1ABC": z}'},  # y: a boolean
]


@pytest.mark.parametrize("annotations", ACCEPTED)
def test_what_the_api_server_takes_is_still_injected(annotations: dict[str, str]) -> None:
    pod = inject(annotations)
    names = [c["name"] for c in pod["spec"].get("initContainers", [])]
    assert "istio-proxy" in names


@pytest.fixture(scope="module")
def apiserver() -> Iterator[ControlPlane]:
    """A fresh control plane; namespace ``default`` has its ServiceAccount."""
    with running_cluster() as cluster:
        cluster.namespace("default")
        yield cluster.plane


def create_pod(plane: ControlPlane, pod: dict[str, Any]) -> tuple[int, str]:
    """Status and message of a ``dryRun=All`` create of ``pod`` in namespace ``default``."""
    status, reply = plane.post("/api/v1/namespaces/default/pods?dryRun=All", pod)
    return status, "" if status == 201 else str(reply.get("message", ""))


@pytest.mark.cluster
def test_the_api_server_refuses_what_we_deny(
    apiserver: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table above is true: with our checks off, the server refuses every such pod."""
    monkeypatch.setattr(ann, "validate", lambda _annotations: [])
    monkeypatch.setattr(uservolumes, "check_pod", lambda _annotations, _spec: [])
    monkeypatch.setattr(podshape, "check_partial", lambda _partial: None)
    for given, _ in REFUSED:
        status, message = create_pod(apiserver, inject(given))
        assert status in (400, 422), (given, status)
        assert "serviceAccount" not in message, message  # refused for the annotation only
    for given, _ in INIT_REFUSED:  # the server takes these: only we can stop them
        assert create_pod(apiserver, inject(given)) == (201, ""), given


@pytest.mark.cluster
def test_the_api_server_takes_what_we_inject(apiserver: ControlPlane) -> None:
    for given in [{}, *ACCEPTED]:
        assert create_pod(apiserver, inject(given)) == (201, ""), given
