"""The injection core through its API (the webhook's view: a pod, no enclosing workload)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from injector.config import default_config, load_config
from injector.core import Injected, InjectionParams, Injector, inject
from injector.errors import AnnotationError, InjectionError, InvalidPodError
from tests.injector.helpers import replica_pod


def env_of(pod: dict[str, Any], container: str = "istio-proxy") -> dict[str, Any]:
    for field in ("initContainers", "containers"):
        for c in pod["spec"].get(field) or []:
            if c["name"] == container:
                return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env") or []}
    raise AssertionError(f"no container {container}")


def test_input_is_never_mutated() -> None:
    pod = replica_pod({"prometheus.io/port": "9090"})
    before = copy.deepcopy(pod)
    outcome = Injector(default_config()).inject(pod, InjectionParams(namespace="shop"))
    assert outcome.injected
    assert pod == before


def test_webhook_identity_patch_and_reinjection_are_consistent() -> None:
    injector = Injector(default_config())
    pod = replica_pod()
    outcome = injector.inject(pod, InjectionParams(namespace="shop"))
    assert outcome.injected
    env = env_of(outcome.pod)  # type: ignore[union-attr]
    assert env["ISTIO_META_OWNER"] == "kubernetes://apis/apps/v1/namespaces/shop/deployments/web"
    assert env["ISTIO_META_WORKLOAD_NAME"] == "web"
    applied = jsonpatch.apply_patch(pod, outcome.patch)  # type: ignore[union-attr]
    assert applied == outcome.pod  # type: ignore[union-attr]
    again = injector.inject(applied, InjectionParams(namespace="shop"))
    assert again.injected and again.patch == []  # type: ignore[union-attr]


def test_managed_fields_never_reach_the_patch() -> None:
    outcome = inject(replica_pod(), default_config(), InjectionParams(namespace="shop"))
    assert not any("managedFields" in op["path"] for op in outcome.patch)  # type: ignore[union-attr]


def test_replicas_hit_the_render_cache_and_different_pods_do_not() -> None:
    injector = Injector(default_config())
    first = injector.inject(replica_pod(), InjectionParams(namespace="shop"))
    second = injector.inject(replica_pod(), InjectionParams(namespace="shop"))
    assert (injector.cache.misses, injector.cache.hits) == (1, 1)
    assert first.patch == second.patch  # type: ignore[union-attr]
    injector.inject(
        replica_pod({"sidecar.istio.io/logLevel": "debug"}), InjectionParams(namespace="shop")
    )
    assert injector.cache.misses == 2
    # A cache hit hands out fresh objects: mutating one result cannot leak into the next.
    first.pod["spec"]["initContainers"][1]["env"].clear()  # type: ignore[union-attr]
    third = injector.inject(replica_pod(), InjectionParams(namespace="shop"))
    assert third.patch == second.patch  # type: ignore[union-attr]


def test_namespace_comes_from_the_request_when_the_pod_has_none() -> None:
    outcome = inject(replica_pod(), default_config(), InjectionParams(namespace="payments"))
    assert env_of(outcome.pod)["ISTIO_META_OWNER"].startswith(  # type: ignore[union-attr]
        "kubernetes://apis/apps/v1/namespaces/payments/"
    )
    skipped = inject(replica_pod(), default_config(), InjectionParams(namespace="kube-system"))
    assert not skipped.injected and "system namespace" in skipped.reason


def test_url_path_env_overrides_and_network_label() -> None:
    params = InjectionParams(
        namespace="shop",
        proxy_env={"ISTIO_META_CLUSTER_ID": "east", "ISTIO_META_NETWORK": "net1", "CUSTOM": "x"},
    )
    outcome = inject(replica_pod(), default_config(), params)
    env = env_of(outcome.pod)  # type: ignore[union-attr]
    assert (env["ISTIO_META_CLUSTER_ID"], env["ISTIO_META_NETWORK"], env["CUSTOM"]) == (
        "east",
        "net1",
        "x",
    )
    assert outcome.pod["metadata"]["labels"]["topology.istio.io/network"] == "net1"  # type: ignore[union-attr]
    names = [e["name"] for e in outcome.pod["spec"]["initContainers"][1]["env"]]  # type: ignore[union-attr]
    assert names.count("ISTIO_META_CLUSTER_ID") == 1


def test_openshift_uid_range_from_namespace_annotations() -> None:
    ns = {
        "openshift.io/sa.scc.uid-range": "1000620000/10000",
        "openshift.io/sa.scc.supplemental-groups": "1000620000/10000",
    }
    outcome = inject(
        replica_pod(), default_config(), InjectionParams(namespace="shop", namespace_annotations=ns)
    )
    init, proxy = outcome.pod["spec"]["initContainers"]  # type: ignore[union-attr]
    assert init["args"][init["args"].index("-u") + 1] == "1000629999"
    assert (proxy["securityContext"]["runAsUser"], proxy["securityContext"]["runAsGroup"]) == (
        1000629999,
        1000629999,
    )


def test_injected_annotations_from_config() -> None:
    config = load_config(
        "injectedAnnotations:\n"
        "  container.apparmor.security.beta.kubernetes.io/istio-proxy: runtime/default\n"
    )
    outcome = inject(replica_pod(), config, InjectionParams(namespace="shop"))
    assert isinstance(outcome, Injected)
    assert (
        outcome.pod["metadata"]["annotations"][
            "container.apparmor.security.beta.kubernetes.io/istio-proxy"
        ]
        == "runtime/default"
    )


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        ([], "expected a JSON object"),
        ({"metadata": {}}, "pod has no spec"),
        ({"spec": {"containers": "app"}}, "spec.containers must be a list"),
        (
            {"metadata": {"labels": {"a": 1}}, "spec": {"containers": []}},
            "metadata.labels must map strings to strings",
        ),
        ({"metadata": [], "spec": {"containers": []}}, "metadata must be an object"),
    ],
)
def test_invalid_pods(pod: Any, message: str) -> None:
    with pytest.raises(InvalidPodError, match=message):
        inject(pod, default_config())


def test_all_annotation_problems_are_reported_together() -> None:
    pod = replica_pod(
        {
            "sidecar.istio.io/interceptionMode": "X",
            "status.sidecar.istio.io/port": "-1",
            "sidecar.istio.io/userVolume": '["not-an-object"]',
        }
    )
    with pytest.raises(AnnotationError) as info:
        inject(pod, default_config(), InjectionParams(namespace="shop"))
    assert len(info.value.problems) == 3
    assert all(p.startswith("annotation ") for p in info.value.problems)


def test_a_template_that_renders_garbage_denies_the_pod_with_its_name() -> None:
    config = load_config("templates: {sidecar: 'spec: [unclosed'}\n")
    with pytest.raises(InjectionError, match="template 'sidecar' rendered invalid YAML"):
        inject(replica_pod(), config, InjectionParams(namespace="shop"))
