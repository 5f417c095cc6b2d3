"""Properties over generated pods: injection raises only our documented errors, its patch
reproduces its pod, it is idempotent, and what it produces is a valid Kubernetes pod."""

from __future__ import annotations

from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from injector.config import default_config
from injector.core import InjectionParams, Injector
from injector.errors import InjectionError
from tests.injector.helpers import as_pod, validate_object

INJECTOR = Injector(default_config())

ANNOTATION_VALUES: dict[str, list[str]] = {
    "sidecar.istio.io/inject": ["true", "false", "maybe", ""],
    "sidecar.istio.io/interceptionMode": ["REDIRECT", "TPROXY", "NONE", "bogus"],
    "sidecar.istio.io/nativeSidecar": ["true", "false", "nope"],
    "traffic.sidecar.istio.io/includeOutboundIPRanges": [
        "*",
        "10.0.0.0/8",
        "",
        "bad",
        "2001:db8::/32",
    ],
    "traffic.sidecar.istio.io/excludeInboundPorts": ["8080", "1,2,3", "0", "x"],
    "traffic.sidecar.istio.io/includeInboundPorts": ["*", "80", ""],
    "status.sidecar.istio.io/port": ["15020", "0", "8081", "70000"],
    "sidecar.istio.io/proxyCPU": ["100m", "2", "lots"],
    "sidecar.istio.io/proxyMemoryLimit": ["1Gi", "-"],
    "proxy.istio.io/config": [
        "concurrency: 2",
        "holdApplicationUntilProxyStarts: true",
        "{bad",
        "unknown: 1",
        "proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true'}",
    ],
    "prometheus.io/port": ["9090", "15090", "15020"],
    "prometheus.io/scrape": ["true", "false"],
    "sidecar.istio.io/rewriteAppHTTPProbers": ["true", "false"],
    "inject.istio.io/templates": ["sidecar", "gateway", "missing"],
    "sidecar.istio.io/userVolume": ['{"v":{"emptyDir":{}}}', "[]"],
    "kubectl.kubernetes.io/default-container": ["app-0"],
}

names = st.sampled_from(["app-0", "app-1", "app-2", "istio-proxy"])
ports = st.one_of(st.integers(1, 65535), st.sampled_from(["http", "metrics", "missing"]))
probe = st.one_of(
    st.builds(lambda p: {"httpGet": {"port": p, "path": "/h"}}, ports),
    st.builds(lambda p: {"tcpSocket": {"port": p}}, ports),
    st.builds(lambda p: {"grpc": {"port": p}}, st.integers(1, 65535)),
    # builds, not just: every draw a fresh object. Decoded JSON never shares objects, and a
    # shared one would let jsonpatch's in-place edits of one probe change another.
    st.builds(lambda: {"exec": {"command": ["true"]}}),
)
HANDLERS = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"}


@st.composite
def containers(draw: Any) -> list[dict[str, Any]]:
    chosen = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    result = []
    for name in chosen:
        container: dict[str, Any] = {
            "name": name,
            "image": "auto" if name == "istio-proxy" else "example.com/app:1",
        }
        if draw(st.booleans()):
            container["ports"] = [
                {"name": "http", "containerPort": 8080},
                {"name": "metrics", "containerPort": 9090},
            ]
        for field in ("readinessProbe", "livenessProbe", "startupProbe"):
            if draw(st.integers(0, 3)) == 0:
                container[field] = draw(probe)
        env = draw(st.lists(st.sampled_from(["A", "B", "C"]), unique=True, max_size=3))
        if env:
            container["env"] = [{"name": n, "value": "1"} for n in env]
        result.append(container)
    return result


@st.composite
def pods(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(ANNOTATION_VALUES)), unique=True, max_size=5))
    annotations = {k: draw(st.sampled_from(ANNOTATION_VALUES[k])) for k in keys}
    labels = draw(
        st.dictionaries(
            st.sampled_from(["app", "version", "sidecar.istio.io/inject"]),
            st.sampled_from(["true", "false", "web", "v1"]),
            max_size=3,
        )
    )
    spec: dict[str, Any] = {"containers": draw(containers())}
    if draw(st.booleans()):
        spec["initContainers"] = [{"name": "setup", "image": "busybox"}]
    if draw(st.integers(0, 9)) == 0:
        spec["hostNetwork"] = True
    metadata: dict[str, Any] = {"name": "generated"}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {"metadata": metadata, "spec": spec}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods())
def test_injection_properties(pod: dict[str, Any]) -> None:
    try:
        outcome = INJECTOR.inject(pod, InjectionParams(namespace="apps"))
    except InjectionError as exc:
        assert str(exc)  # documented error, with a message
        return
    if not outcome.injected:
        assert outcome.reason
        return
    result = jsonpatch.apply_patch(pod, outcome.patch)  # type: ignore[union-attr]
    assert result == outcome.pod  # type: ignore[union-attr]
    again = INJECTOR.inject(result, InjectionParams(namespace="apps"))
    assert again.injected and again.patch == [], "re-injection must be a no-op"  # type: ignore[union-attr]
    validate_object(as_pod(result))
    _check_one_handler(result)


def _check_one_handler(pod: dict[str, Any]) -> None:
    """What the OpenAPI schema cannot say: a probe or hook has exactly one handler."""
    for field in ("containers", "initContainers"):
        for container in pod["spec"].get(field) or []:
            probes = [container.get(f) for f in ("readinessProbe", "livenessProbe", "startupProbe")]
            hooks = list((container.get("lifecycle") or {}).values())
            for handler in [p for p in probes + hooks if p]:
                assert len(HANDLERS & handler.keys()) == 1, (container["name"], handler)
