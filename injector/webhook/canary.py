"""Prove a config before serving it: inject a few representative pods with it.

A template can compile and still fail on every pod (an undefined filter, a bad ``from_json``,
YAML that does not parse), or render nothing at all. ``prove`` injects each canary pod with
the config's default templates: any failure, or an injection that adds no container, is a
``ConfigError``, so a reload keeps the previous config instead of denying every pod. Every
other template and alias is tried on the minimal pod on its own; as such templates may expect
pods of their own kind, a failure there is returned as a warning, not an error.
"""

from __future__ import annotations

import copy
from typing import Any

from injector.config import InjectorConfig
from injector.core import TEMPLATES_ANNOTATION, Injected, InjectionParams, Injector
from injector.errors import ConfigError, InjectorError

_OPT_IN = {"sidecar.istio.io/inject": "true"}  # injected whatever the policy and selectors


def _pod(name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "default", **metadata}
    meta["labels"] = {**_OPT_IN, **meta.get("labels", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


MINIMAL = _pod("canary-minimal", {"containers": [{"name": "app", "image": "app"}]})
CANARIES = (
    MINIMAL,
    _pod(
        "canary-deployment-7d4b9c8f6-x2x9k",
        {
            "serviceAccountName": "canary",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1.0",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                    "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}},
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    "volumeMounts": [{"name": "kube-api-access-x2x9k", "mountPath": "/var/run"}],
                }
            ],
            "volumes": [{"name": "kube-api-access-x2x9k", "projected": {"sources": []}}],
        },
        labels={"app": "canary", "version": "v1", "pod-template-hash": "7d4b9c8f6"},
        ownerReferences=[
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "canary-deployment-7d4b9c8f6",
                "uid": "00000000-0000-0000-0000-000000000001",
                "controller": True,
            }
        ],
    ),
    _pod(
        "canary-annotated",
        {
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "containers": [
                {"name": "app", "image": "app", "ports": [{"containerPort": 9090}]},
                {"name": "helper", "image": "helper"},
            ],
        },
        annotations={
            "sidecar.istio.io/proxyCPU": "200m",
            "sidecar.istio.io/proxyMemory": "128Mi",
            "traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
            "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true\nconcurrency: 1\n",
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9090",
        },
    ),
)


def prove(config: InjectorConfig) -> list[str]:
    """``ConfigError`` naming the canary pod if the default templates cannot inject it;
    returns warnings for other templates that fail on the minimal pod."""
    injector = Injector(config, cache_bytes=0)
    for pod in CANARIES:
        outcome = _inject(injector, pod, "default templates")
        added = _containers(outcome.pod) - _containers(pod)
        if not added:
            raise ConfigError(
                f"canary pod {pod['metadata']['name']}: the default templates "
                f"({', '.join(config.default_templates)}) inject no container"
            )
    warnings = []
    for name in sorted({*config.templates, *config.aliases} - set(config.default_templates)):
        pod = copy.deepcopy(MINIMAL)
        pod["metadata"]["annotations"] = {TEMPLATES_ANNOTATION: name}
        try:
            _inject(injector, pod, f"template {name!r}")
        except ConfigError as exc:
            warnings.append(str(exc))
    return warnings


def _inject(injector: Injector, pod: dict[str, Any], what: str) -> Injected:
    name = pod["metadata"]["name"]
    try:
        outcome = injector.inject(copy.deepcopy(pod), InjectionParams(namespace="default"))
    except InjectorError as exc:
        raise ConfigError(f"canary pod {name} with {what}: {exc}") from exc
    except Exception as exc:  # a template bug the core does not anticipate
        raise ConfigError(f"canary pod {name} with {what}: unexpected error: {exc!r}") from exc
    if not isinstance(outcome, Injected):
        raise ConfigError(f"canary pod {name} with {what}: not injected ({outcome.reason})")
    return outcome


def _containers(pod: dict[str, Any]) -> set[str]:
    spec = pod.get("spec") or {}
    return {
        f"{kind}/{c.get('name')}"
        for kind in ("containers", "initContainers")
        for c in spec.get(kind) or []
    }
