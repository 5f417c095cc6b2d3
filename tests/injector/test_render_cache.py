"""The render cache keys on what a render read: replicas that differ only where the template
never looks (ServiceAccount volume name, uids, managedFields) share a render, and whatever
the cache does, an injected pod is exactly what a fresh render gives."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from injector.config import InjectorConfig, default_config, load_config
from injector.core import InjectionParams, Injector, inject
from injector.errors import InjectionError
from injector.render_cache import RenderCache, Trace, view
from tests.injector.test_properties import containers

PARAMS = InjectionParams(namespace="apps")

# A template that reads the pod in every way a template can: keys, items, lengths, missing
# fields, membership, whole subtrees (printed, tojson), iteration and filters.
PROBE = """\
metadata:
  annotations:
    probe/names: {{ spec.containers | map(attribute="name") | join(",") }}
    probe/first-image: {{ pod.spec.containers[0].image }}
    probe/command: {{ (spec.containers[0].command or []) | join(" ") }}
    probe/with-ports: {{ spec.containers | selectattr("ports")
      | map(attribute="name") | join(",") }}
    probe/volumes: {{ (spec.get("volumes") or []) | length }}
    probe/account: {{ spec.get("serviceAccountName") or "default" }}
    probe/priority: {{ spec.get("priority") | string }}
    probe/tolerations: {{ spec.tolerations | tojson if spec.tolerations is defined else "-" }}
    probe/security: {{ spec.get("securityContext") | string }}
    probe/annotation-keys: {{ annotations | list | join(",") }}
{%- if "team" in labels %}
    probe/team: {{ labels["team"] }}
{%- endif %}
{%- if labels %}
    probe/labels: {{ labels | tojson }}
{%- endif %}
"""
PROBE_CONFIG = "defaultTemplates: [sidecar, probe]\n"


def probe_config() -> InjectorConfig:
    return load_config(PROBE_CONFIG, templates={"probe": PROBE})


def sa_volume(suffix: str) -> dict[str, Any]:
    return {
        "name": f"kube-api-access-{suffix}",
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    }


def replica(pod: dict[str, Any], suffix: str, uid: str) -> dict[str, Any]:
    """``pod`` as the API server sends its next replica: its own token volume and uid."""
    pod = copy.deepcopy(pod)
    name = f"kube-api-access-{suffix}"
    spec = pod["spec"]
    spec["volumes"] = [v for v in spec.get("volumes") or [] if "projected" not in v]
    spec["volumes"].append(sa_volume(suffix))
    for container in spec["containers"]:
        mounts = [m for m in container.get("volumeMounts") or [] if "kube-api" not in m["name"]]
        mounts.append({"name": name, "mountPath": "/var/run/secrets/kubernetes.io/sa"})
        container["volumeMounts"] = mounts
    pod["metadata"]["uid"] = uid
    pod["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "time": uid}]
    return pod


def replicaset_pod(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "generateName": "web-7d4b9c8f6-",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6"}
            ],
        },
        "spec": {"containers": [{"name": "web", "image": "example.com/web:1"}]},
    }
    if annotations:
        pod["metadata"]["annotations"] = annotations
    return replica(pod, "aaaaa", "u0")


def same_as_fresh(injector: Injector, pod: dict[str, Any]) -> None:
    """The cached injector gives exactly what a fresh, uncached injection gives."""
    try:
        fresh = inject(copy.deepcopy(pod), injector.config, PARAMS)
    except InjectionError as exc:
        try:
            injector.inject(pod, PARAMS)
        except InjectionError as cached_exc:
            assert str(cached_exc) == str(exc)
            return
        raise AssertionError("the cache answered a pod a fresh render denies") from exc
    cached = injector.inject(pod, PARAMS)
    assert cached == fresh


def test_replicas_share_a_render_despite_their_own_token_volumes() -> None:
    injector = Injector(default_config())
    base = replicaset_pod()
    for n, suffix in enumerate(("x7k2p", "q9m4z", "b3c8d")):
        same_as_fresh(injector, replica(base, suffix, f"u{n}"))
    assert (injector.cache.misses, injector.cache.hits) == (1, 2)


def test_a_difference_the_template_reads_is_a_miss() -> None:
    injector = Injector(default_config())
    same_as_fresh(injector, replicaset_pod())
    same_as_fresh(injector, replicaset_pod({"sidecar.istio.io/logLevel": "debug"}))
    same_as_fresh(injector, replicaset_pod({"sidecar.istio.io/logLevel": "trace"}))
    assert (injector.cache.misses, injector.cache.hits) == (3, 0)
    same_as_fresh(
        injector, replica(replicaset_pod({"sidecar.istio.io/logLevel": "debug"}), "z", "u9")
    )
    assert injector.cache.hits == 1


def test_values_that_print_alike_are_different_keys() -> None:
    """``true``, ``1``, ``1.0`` and ``"1"`` compare or hash alike in Python, not in output."""
    injector = Injector(probe_config())
    outputs = set()
    for priority in (1, True, 1.0, "1", None):
        pod = replicaset_pod()
        pod["spec"]["priority"] = priority
        same_as_fresh(injector, pod)
        outcome = injector.inject(pod, PARAMS)
        outputs.add(outcome.pod["metadata"]["annotations"]["probe/priority"])  # type: ignore[union-attr]
    assert outputs == {"1", "True", "1.0", "None"}  # "1" and 1 print alike, and both are right
    assert injector.cache.misses == 5


def test_views_read_like_the_data_they_wrap() -> None:
    trace = Trace()
    data = {"a": [1, {"b": None}], "c": "d"}
    wrapped = view(data, ("x",), trace)
    assert wrapped == data and str(wrapped) == str(data)
    assert list(wrapped) == ["a", "c"] and len(wrapped) == 2 and "a" in wrapped
    assert wrapped.get("missing", 5) == 5 and wrapped["a"][1].get("b") is None
    assert [type(v).__name__ for v in wrapped.values()] == ["ListView", "str"]
    observed = trace.observe({"x": data})
    assert observed == trace.observe({"x": copy.deepcopy(data)})
    assert observed != trace.observe({"x": {**data, "c": "e"}})
    assert observed != trace.observe({"x": {"a": [1, {"b": 0}], "c": "d"}})


def stored_bytes(injector: Injector) -> int:
    """What the cache's entries really hold: keys (base, observations) and outputs."""
    items = injector.cache._items.items()
    return sum(len(key[0]) + len(key[2]) + len(value) for key, value in items)


def tolerations(n: int, count: int) -> list[dict[str, str]]:
    return [{"key": f"pool-{n}-{i}", "operator": "Exists"} for i in range(count)]


def test_the_cache_is_bounded_in_bytes_and_traces() -> None:
    """Pods whose read parts are large (the probe template prints tolerations whole) fill a
    byte budget, not an entry count: 40 pods of ~15 KiB each (their reads and the sidecar
    render) stay within 256 KiB."""
    budget = 256 * 2**10
    injector = Injector(probe_config(), cache_bytes=budget)
    for n in range(40):
        pod = replicaset_pod()
        pod["spec"]["tolerations"] = tolerations(n, 100)
        same_as_fresh(injector, pod)
    held = stored_bytes(injector)
    assert 2 <= len(injector.cache._items) < 40
    assert held <= budget
    assert injector.cache.bytes == held + len(injector.cache._items) * RenderCache.ENTRY_OVERHEAD
    assert len(injector.cache._traces) <= injector.cache.max_traces


def test_a_render_too_big_for_the_budget_is_served_but_not_kept() -> None:
    injector = Injector(probe_config(), cache_bytes=256 * 2**10)
    same_as_fresh(injector, replicaset_pod())
    kept = dict(injector.cache._items)
    huge = replicaset_pod()
    huge["spec"]["tolerations"] = tolerations(0, 5000)  # ~400 KiB read whole
    same_as_fresh(injector, huge)
    assert injector.cache._items == kept  # nothing evicted, nothing added
    same_as_fresh(injector, replica(replicaset_pod(), "k2m9q", "u2"))
    assert injector.cache.hits >= 1


labels = st.dictionaries(
    st.sampled_from(["app", "team", "version"]), st.sampled_from(["web", "pay", "v1"]), max_size=3
)
# Valid values (invalid ones are denied before any render; test_properties covers those).
ANNOTATIONS = {
    "sidecar.istio.io/interceptionMode": ["REDIRECT", "TPROXY", "NONE"],
    "sidecar.istio.io/nativeSidecar": ["true", "false"],
    "traffic.sidecar.istio.io/includeOutboundIPRanges": ["*", "10.0.0.0/8"],
    "traffic.sidecar.istio.io/excludeInboundPorts": ["8080", "1,2,3"],
    "status.sidecar.istio.io/port": ["15020", "0"],
    "sidecar.istio.io/proxyCPU": ["100m", "2"],
    "proxy.istio.io/config": ["concurrency: 2", "holdApplicationUntilProxyStarts: true"],
    "prometheus.io/scrape": ["true", "false"],
    "sidecar.istio.io/rewriteAppHTTPProbers": ["true", "false"],
    "sidecar.istio.io/logLevel": ["debug", "info"],
    "sidecar.istio.io/userVolume": ['{"v":{"emptyDir":{}}}'],
    "kubectl.kubernetes.io/default-container": ["app-0"],
}
annotation_maps = st.lists(st.sampled_from(sorted(ANNOTATIONS)), unique=True, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.sampled_from(ANNOTATIONS[k]) for k in keys})
)


@st.composite
def workloads(draw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": draw(containers())}
    for field, choices in (
        ("serviceAccountName", ["web", "pay"]),
        ("priority", [0, 1, True, 1.0]),
        ("tolerations", [[], [{"key": "k", "operator": "Exists"}]]),
        ("securityContext", [{}, {"runAsUser": 1000}]),
    ):
        if draw(st.booleans()):
            spec[field] = draw(st.sampled_from(choices))
    metadata = {"generateName": "w-", "labels": draw(labels), "annotations": draw(annotation_maps)}
    return replica({"metadata": metadata, "spec": spec}, "aaaaa", "u0")


# A change the template reads, or one it never reads.
EDITS = st.sampled_from(
    [
        *("token", "token", "label", "annotation", "drop-annotations", "image", "command"),
        *("port", "account", "tolerations", "volume"),
    ]
)


def edit(pod: dict[str, Any], change: str, n: int) -> dict[str, Any]:
    pod = replica(pod, f"s{n:04d}", f"u{n}")  # every replica: its own volume and uid
    metadata, spec = pod["metadata"], pod["spec"]
    if change == "label":
        metadata["labels"]["team"] = f"t{n % 2}"
    elif change == "annotation":
        metadata["annotations"]["sidecar.istio.io/logLevel"] = ["debug", "info"][n % 2]
    elif change == "drop-annotations":
        metadata["annotations"] = {}
    elif change == "image":
        spec["containers"][0]["image"] = f"example.com/app:{n % 2}"
    elif change == "port":
        spec["containers"][-1]["ports"] = [{"name": "http", "containerPort": 8000 + n % 2}]
    elif change == "account":
        spec["serviceAccountName"] = ["web", "pay"][n % 2]
    elif change == "command":
        spec["containers"][0]["command"] = ["serve", f"--port={n % 2}"]
    elif change == "tolerations":
        spec["tolerations"] = [{"key": "k", "operator": "Exists", "effect": f"e{n % 2}"}]
    elif change == "volume":
        spec["volumes"].insert(0, {"name": f"data{n % 2}", "emptyDir": {}})
    return pod


CACHED = {
    "default": Injector(default_config(), cache_bytes=2**20),
    "probe": Injector(probe_config()),
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(CACHED)),
    st.lists(st.tuples(workloads(), st.lists(EDITS, max_size=4)), min_size=1, max_size=3),
)
def test_cached_injection_is_a_fresh_injection(
    config: str, groups: list[tuple[dict[str, Any], list[str]]]
) -> None:
    injector = CACHED[config]  # shared across examples: old entries must never leak
    for n, (pod, changes) in enumerate(groups):
        same_as_fresh(injector, pod)
        for m, change in enumerate(changes):
            same_as_fresh(injector, edit(pod, change, n * 10 + m))
