"""Our injection against Istio's own goldens (``testdata/istio/inject``), compared semantically.

Each case runs the ``injector inject`` path (whole manifest) and is compared, after removing
Go serialisation artifacts only (see ``helpers.normalize``), with Istio's output for the same
input and settings. Two divergences are deliberate and explicit below: Istio's kube-inject puts
a CronJob's injected metadata on ``jobTemplate.metadata`` instead of the pod template, so the
pods never carry it; we put it on the pod template. Istio's ``grpc-simple`` gives its init
container ``ISTIO_NAMESPACE`` with a trailing newline (a YAML block scalar), which lands inside
the xDS server URI of the bootstrap file; ours has none.
"""

from __future__ import annotations

from typing import Any

import pytest

from injector.core import Injected, InjectionParams, Injector
from injector.errors import ManifestError
from injector.manifests import transform
from tests.injector.helpers import ISTIO, istio_config, load_docs, normalize

_FIPS = "pilot: {env: {COMPLIANCE_POLICY: fips-140-3}}\n"
_CNI = "pilot: {cni: {enabled: true, provider: default}}\n"

# golden -> (input file, native sidecars[, extra values])
CASES: dict[str, tuple[str, bool] | tuple[str, bool, str]] = {
    "hello": ("hello", True),
    "hello-old-version": ("hello", False),
    "pod": ("pod", True),
    "list": ("list", True),
    "cronjob": ("cronjob", True),
    "hello-ignore": ("hello-ignore", True),
    "hello-host-network": ("hello-host-network", True),
    "traffic-annotations": ("traffic-annotations", True),
    "hello-probes": ("hello-probes", True),
    "resource_annotations": ("resource_annotations", True),
    "status_annotations": ("status_annotations", True),
    "proxy-override": ("proxy-override", True),
    "multi-container": ("multi-container", True),
    "native-sidecar-opt-out": ("native-sidecar-opt-out", True),
    "hello-fips-140-3": ("hello", True, _FIPS),
    "proxy-override-runas-cni": ("proxy-override-runas", True, _CNI),
    "grpc-agent": ("grpc-agent", True),
    "grpc-simple": ("grpc-simple", True),
}


def _istio_cronjob_fix(doc: dict[str, Any]) -> dict[str, Any]:
    """Move Istio's misplaced CronJob metadata to the pod template, where we put it."""
    job = doc["spec"]["jobTemplate"]
    misplaced = job.pop("metadata", {})
    job["spec"]["template"]["metadata"] = misplaced
    return doc


def _istio_grpc_simple_fix(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop the newline Istio leaves at the end of the bootstrap's ``ISTIO_NAMESPACE``."""
    (init,) = doc["spec"]["template"]["spec"]["initContainers"]
    for env in init["env"]:
        if env["name"] == "ISTIO_NAMESPACE":
            env["value"] = env["value"].rstrip("\n")
    return doc


_FIXES = {"cronjob": _istio_cronjob_fix, "grpc-simple": _istio_grpc_simple_fix}


@pytest.mark.parametrize("golden", sorted(CASES))
def test_matches_istio(golden: str) -> None:
    source, native, *extra = CASES[golden]
    text = (ISTIO / f"{source}.yaml").read_text()
    result = transform(text, Injector(istio_config(native, *extra)))
    expected = load_docs((ISTIO / f"{golden}.yaml.injected").read_text())
    if golden in _FIXES:
        expected = [_FIXES[golden](d) for d in expected]
    assert normalize(load_docs(result.text)) == normalize(expected)


def test_bad_include_ip_ranges_is_rejected_naming_the_annotation() -> None:
    text = (ISTIO / "traffic-annotations-bad-includeipranges.yaml").read_text()
    with pytest.raises(ManifestError) as info:
        transform(text, Injector(istio_config()))
    message = str(info.value)
    assert "traffic.sidecar.istio.io/includeOutboundIPRanges" in message
    assert "'bad'" in message
    assert "Deployment/traffic" in message


def test_every_shared_istio_golden_is_covered() -> None:
    goldens = {p.name.removesuffix(".yaml.injected") for p in ISTIO.glob("*.yaml.injected")}
    assert goldens == set(CASES)


def _proxy_env(pod: dict[str, Any]) -> dict[str, str]:
    outcome = Injector(istio_config()).inject(pod, InjectionParams(namespace="shop"))
    assert isinstance(outcome, Injected)
    spec = outcome.pod["spec"]
    proxy = next(
        c for c in spec["initContainers"] + spec["containers"] if c["name"] == "istio-proxy"
    )
    return {e["name"]: e.get("value", "") for e in proxy["env"]}


def _owned_pod(kind: str, owner: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "generateName": f"{owner}-",
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": kind, "name": owner, "uid": "u", "controller": True}
            ],
        },
        "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]},
    }


_RENAMED = {"service.istio.io/workload-name": "renamed", "service.istio.io/canonical-name": "c"}


@pytest.mark.parametrize(
    ("pod", "owner", "workload_name"),
    [
        (  # OpenShift: the RC of DeploymentConfig "hello"; apiVersion is the RC's, as Istio
            _owned_pod("ReplicationController", "hello-3", {"deploymentconfig": "hello"}),
            "kubernetes://apis/v1/namespaces/shop/deploymentconfigs/hello",
            "hello",
        ),
        (
            _owned_pod(
                "ReplicationController", "hello-3", {"deploymentconfig": "hello", **_RENAMED}
            ),
            "kubernetes://apis/v1/namespaces/shop/deploymentconfigs/hello",
            "renamed",
        ),
        (
            _owned_pod("ReplicaSet", "web-5d8f", {"pod-template-hash": "5d8f", **_RENAMED}),
            "kubernetes://apis/apps/v1/namespaces/shop/deployments/web",
            "renamed",
        ),
        (
            {
                "metadata": {"name": "solo", "labels": _RENAMED},
                "spec": {"containers": [{"name": "a", "image": "a"}]},
            },
            "kubernetes://apis/v1/namespaces/shop/pods/solo",
            "renamed",
        ),
    ],
)
def test_workload_name_label_renames_the_workload_not_its_owner(
    pod: dict[str, Any], owner: str, workload_name: str
) -> None:
    env = _proxy_env(pod)
    assert env["ISTIO_META_OWNER"] == owner
    assert env["ISTIO_META_WORKLOAD_NAME"] == workload_name


# Istio's hello-multiport-metrics case: its input, and what its golden puts on the pod.
_MULTIPORT = """
apiVersion: v1
kind: Pod
metadata:
  annotations:
    prometheus.io/scrape: "true"
    prometheus.istio.io/scrape-targets: "8080:/metrics,9100:/custom-metrics"
  name: hellopod
spec:
  containers:
    - name: hello
      image: "fake.docker.io/google-samples/hello-go-gke:1.0"
      ports:
        - name: http
          containerPort: 80
"""
_MULTIPORT_ENV = (
    '{"scrape":"true","path":"/metrics","port":"8080","targets":'
    '[{"port":"8080","path":"/metrics"},{"port":"9100","path":"/custom-metrics"}]}'
)


def test_several_metrics_ports_merge_as_istio() -> None:
    (pod,) = load_docs(transform(_MULTIPORT, Injector(istio_config())).text)
    annotations = pod["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus")} == {
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
    }
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_PROMETHEUS_ANNOTATIONS"] == _MULTIPORT_ENV


_OTEL_MESH = """
extensionProviders:
- name: otel
  opentelemetry:
    service: otel-collector.observability.svc.cluster.local
    port: 4317
    serviceAttributeEnrichment: OTEL_SEMANTIC_CONVENTIONS
"""
# Istio's hello-otel-semconv case: its input and the value its golden gives the proxy.
_OTEL_INPUT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: hello
  template:
    metadata:
      labels:
        app: hello
        app.kubernetes.io/version: "v1.2.3"
    spec:
      containers:
        - name: hello
          image: "fake.docker.io/google-samples/hello-go-gke:1.0"
          ports:
            - name: http
              containerPort: 80
"""
_OTEL_VALUE = (
    "service.namespace=default,service.version=v1.2.3,service.instance.id=default.$(POD_NAME).hello"
)


def _proxy_env_of(text: str, injector: Injector) -> list[str]:
    (doc,) = load_docs(transform(text, injector).text)
    spec = doc["spec"]["template"]["spec"]
    proxy = next(c for c in spec["initContainers"] if c["name"] == "istio-proxy")
    return [f"{e['name']}={e.get('value', '')}" for e in proxy["env"] if "value" in e]


def test_otel_resource_attributes_as_istio() -> None:
    env = _proxy_env_of(_OTEL_INPUT, Injector(istio_config(mesh=_OTEL_MESH)))
    assert env[-1] == f"OTEL_RESOURCE_ATTRIBUTES={_OTEL_VALUE}"  # after TRUST_DOMAIN
    assert env[-2] == "TRUST_DOMAIN=cluster.local"
    plain = _proxy_env_of(_OTEL_INPUT, Injector(istio_config()))
    assert not any(e.startswith("OTEL_") for e in plain)
