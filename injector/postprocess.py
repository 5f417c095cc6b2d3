"""The last step of an injection: what Istio does to the pod after the templates are merged.

``apply`` takes the merged pod and returns the finished one (the input is not mutated):

- env overrides from the webhook URL (``/inject/cluster/c1/net/n1``) on ``istio-proxy``, and
  the network label they imply;
- the Prometheus merge: the app's scrape annotations handed to the agent
  (``ISTIO_PROMETHEUS_ANNOTATIONS``), the pod's pointed at the agent;
- app HTTP/TCP/gRPC probes rewritten through the agent (``ISTIO_KUBE_APP_PROBERS``);
- the status annotation (what was injected) and the record of user overrides;
- container order (the proxy first when the app waits for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from injector import annotations as ann
from injector import context, ordering, overrides, pods, probes, prometheus, reinjection
from injector.config import InjectorConfig


@dataclass(frozen=True)
class Facts:
    """What post-processing needs to know besides the merged pod."""

    injected: Mapping[str, Any]  # what the templates inject on their own (a spec)
    record: Mapping[str, Any]  # the user's overrides of injected containers
    settings: context.Settings
    previous: reinjection.Previous  # what an earlier injection had (its probers)
    proxy_env: Mapping[str, str]  # from the webhook URL
    metrics_port: str  # the agent's port, for the Prometheus merge


def apply(
    pod: Mapping[str, Any], facts: Facts, config: InjectorConfig, warnings: list[str]
) -> dict[str, Any]:
    """The finished pod; problems worth telling the user are appended to ``warnings``."""
    metadata = dict(pod.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    labels = dict(metadata.get("labels") or {})
    spec = dict(pod.get("spec") or {})
    if facts.proxy_env:
        spec = with_proxy_env(spec, dict(sorted(facts.proxy_env.items())))
        network = facts.proxy_env.get("ISTIO_META_NETWORK")
        if network:
            labels.setdefault("topology.istio.io/network", network)
    scrape = prometheus.apply(annotations, config.mesh, facts.metrics_port)
    if scrape is not None:
        spec = with_proxy_env(spec, {prometheus.ENV: scrape})
    spec = _rewrite_probes(spec, annotations, facts, config, warnings)
    annotations[reinjection.STATUS] = reinjection.status_annotation(
        facts.injected, str(config.values.get("revision") or "")
    )
    if facts.record:
        annotations[overrides.ANNOTATION] = overrides.encode(facts.record)
    annotations.update(config.injected_annotations)
    metadata["annotations"] = annotations
    if labels or "labels" in metadata:
        metadata["labels"] = labels
    spec = ordering.reorder(spec, _holds(facts.settings, config))
    return {**pod, "metadata": metadata, "spec": spec}


def with_proxy_env(spec: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``spec`` with env vars set on istio-proxy (same-named ones replaced, new ones
    appended in order)."""

    def change(proxy: dict[str, Any]) -> dict[str, Any]:
        kept = [e for e in proxy.get("env") or [] if e.get("name") not in env]
        proxy["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
        return proxy

    return pods.with_container(spec, pods.PROXY, change)


def _rewrite_probes(
    spec: dict[str, Any],
    annotations: Mapping[str, str],
    facts: Facts,
    config: InjectorConfig,
    warnings: list[str],
) -> dict[str, Any]:
    enabled = bool(config.values["sidecarInjectorWebhook"]["rewriteAppHTTPProbe"])
    if "sidecar.istio.io/rewriteAppHTTPProbers" in annotations:
        enabled = ann.parse_bool(annotations["sidecar.istio.io/rewriteAppHTTPProbers"])
    port = int(facts.settings.status_port)
    if not enabled or port == 0:
        return spec
    probers: dict[str, Any] = {}
    for field_name in ("containers", "initContainers"):
        if spec.get(field_name):
            spec[field_name] = probes.rewrite(spec[field_name], port, probers, warnings)
    merged_probers = {**probers, **facts.previous.probers}
    if merged_probers:
        spec = with_proxy_env(spec, {probes.PROBERS_ENV: probes.encode(merged_probers)})
    return spec


def _holds(settings: context.Settings, config: InjectorConfig) -> bool:
    """Whether the app waits for the proxy. ``settings.hold_application`` leaves native
    sidecars out (they start first anyway); a template that injects istio-proxy as an
    ordinary container (``grpc-agent``) still needs it first among the containers."""
    return bool(settings.proxy_config.get("holdApplicationUntilProxyStarts")) or bool(
        config.values["global"]["proxy"]["holdApplicationUntilProxyStarts"]
    )
