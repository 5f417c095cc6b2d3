"""Pod input that once caused an internal error (a 500 deny) is a 400 deny naming the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from injector.config import default_config
from injector.core import Injector
from injector.webhook import admission
from tests.webhook.conftest import hello_pod, review_of

INJECTOR = Injector(default_config())
Pod = dict[str, Any]


def annotate(name: str, value: str) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        pod["metadata"].setdefault("annotations", {})[name] = value

    return change


def nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def setter(*path: str | int, value: Any) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        target: Any = pod
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CASES: list[tuple[str, Callable[[Pod], None], str]] = [
    (
        "deep",
        setter("spec", "containers", 0, "args", value=nest(300)),
        "object.spec.containers[0].args",
    ),
    (
        "big-concurrency",
        annotate("proxy.istio.io/config", "concurrency: 99999999999999999999999"),
        "concurrency",
    ),
    (
        "int32-concurrency",
        annotate("proxy.istio.io/config", "concurrency: 99999999999"),
        "concurrency: 99999999999 is out of range",
    ),
    (
        "superscript-port",
        annotate("status.sidecar.istio.io/port", "²"),
        "status.sidecar.istio.io/port",
    ),
    (
        "superscript-ports",
        annotate("traffic.sidecar.istio.io/includeInboundPorts", "80,8²"),
        "includeInboundPorts",
    ),
    (
        "binary-proxy-config",
        annotate("proxy.istio.io/config", "proxyMetadata: !!binary aGk="),
        "proxyMetadata",
    ),
    (
        "key-not-string",
        annotate("proxy.istio.io/config", "tracing: {1: x}"),
        "key 1 is not a string",
    ),
    ("name-list", setter("metadata", "name", value=["a"]), "metadata.name"),
    ("namespace-list", setter("metadata", "namespace", value=["a"]), "metadata.namespace"),
    (
        "container-name-list",
        setter("spec", "containers", 0, "name", value=["a"]),
        "spec.containers[0].name",
    ),
    ("init-containers-string", setter("spec", "initContainers", value="x"), "spec.initContainers"),
    ("huge-annotations", annotate("example.com/big", "x" * 300_000), "over the limit"),
    # fields the core merges by key or descends into, of the wrong type (podshape)
    ("name-empty-list", setter("metadata", "name", value=[]), "metadata.name must be a string"),
    (
        "container-name-empty-object",
        setter("spec", "containers", 0, "name", value={}),
        "spec.containers[0].name must be a string, not an object",
    ),
    (
        "owner-references-number",
        setter("metadata", "ownerReferences", value=1),
        "metadata.ownerReferences must be a list of objects",
    ),
    (
        "ports-number",
        setter("spec", "containers", 0, "ports", value=1),
        "spec.containers[0].ports must be a list of objects",
    ),
    (
        "container-port-list",
        setter("spec", "containers", 0, "ports", value=[{"containerPort": []}]),
        "spec.containers[0].ports[0].containerPort must be an integer, not a list",
    ),
    (
        "env-name-object",
        setter("spec", "containers", 0, "env", value=[{"name": {}, "value": "x"}]),
        "spec.containers[0].env[0].name must be a string",
    ),
    ("volume-string", setter("spec", "volumes", value=["data"]), "spec.volumes must be a list"),
    (
        "volume-name-list",
        setter("spec", "volumes", value=[{"name": [], "emptyDir": {}}]),
        "spec.volumes[0].name must be a string",
    ),
    (
        "own-proxy-security-context-string",
        setter("spec", "initContainers", value=[{"name": "istio-proxy", "securityContext": "x"}]),
        "spec.initContainers[0].securityContext must be an object",
    ),
    (
        "overrides-containers-number",
        annotate("proxy.istio.io/overrides", '{"containers": 1}'),
        "proxy.istio.io/overrides: containers must be a list",
    ),
]


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_caused_problem_is_a_400_deny_naming_the_field(
    change: Callable[[Pod], None], field: str
) -> None:
    pod = copy.deepcopy(hello_pod())
    change(pod)
    reply = admission.review(review_of(pod), INJECTOR)
    assert reply.error is None
    answer = json.loads(reply.body)["response"]
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 400
    assert field in answer["status"]["message"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("apiVersion", ["admission.k8s.io/v1"], "apiVersion"),
        ("request.namespace", ["default"], "request.namespace"),
    ],
)
def test_malformed_review_fields_are_http_400(key: str, value: Any, message: str) -> None:
    review = review_of(hello_pod())
    target = review
    *parents, last = key.split(".")
    for parent in parents:
        target = target[parent]
    target[last] = value
    reply = admission.review(review, INJECTOR)
    assert reply.status == 400 and reply.error is None
    assert message in json.loads(reply.body)["error"]


def test_superscript_scrape_port_is_passed_on_like_istio_not_an_internal_error() -> None:
    pod = copy.deepcopy(hello_pod())
    annotate("prometheus.io/port", "9²")(pod)
    reply = admission.review(review_of(pod), INJECTOR)
    assert reply.error is None and reply.disposition == "injected"


def test_a_status_whose_lists_are_not_lists_is_unreadable_and_the_pod_injected_afresh() -> None:
    pod = copy.deepcopy(hello_pod())
    annotate("sidecar.istio.io/status", '{"containers": 1, "volumes": "istio-envoy"}')(pod)
    reply = admission.review(review_of(pod), INJECTOR)
    assert reply.error is None and reply.disposition == "injected"
