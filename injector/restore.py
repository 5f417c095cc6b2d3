"""Undoing what an injection rewrote on the rest of the pod, from the records it left.

- probes and lifecycle hooks pointed at the agent (``/app-health/...``) get their handlers
  back from ``ISTIO_KUBE_APP_PROBERS``;
- the Prometheus annotations pointed at the agent get the app's own back from
  ``ISTIO_PROMETHEUS_ANNOTATIONS`` (none, when the app had none);
- labels and annotations the templates set (``security.istio.io/tlsMode``, canonical
  labels, ``istio.io/rev``, ``kubectl.kubernetes.io/default-*container``, the gRPC
  templates' ``sidecar.istio.io/rewriteAppHTTPProbers: "false"``) are removed when they hold
  the value the injection derives for this pod, and kept when they hold another (then the
  pod had its own);
- the ``istio-cni`` entry CNI mode appends to the Multus network list is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from injector import identity, prometheus
from injector import probes as app_probes
from injector.identity import Workload

_LISTS = ("containers", "initContainers")
_SCRAPE_PATH = "/stats/prometheus"
_DEFAULT_CONTAINER = (
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
)
# Annotations the Prometheus merge rewrites, restored from the proxy's record.
SCRAPE_PREFIXES = ("prometheus.io/", "prometheus.istio.io/")
_MULTUS = "k8s.v1.cni.cncf.io/networks"
_ISTIO_CNI_NETWORK = "default/istio-cni"
_ISTIO_CNI_ENTRY = {"name": "istio-cni", "namespace": "default"}
# What a built-in template sets on the pod whatever the pod had (removed holding that value).
_TEMPLATE_ANNOTATIONS = {
    "grpc-agent": {"sidecar.istio.io/rewriteAppHTTPProbers": "false"},
    "grpc-simple": {"sidecar.istio.io/rewriteAppHTTPProbers": "false"},
}
_SUFFIXES = {
    **{suffix: ("probe", field) for field, suffix in app_probes.PROBES},
    **{suffix: ("hook", hook) for hook, suffix in app_probes.HOOKS},
}


def probes(spec: dict[str, Any], recorded: str, warnings: list[str]) -> dict[str, Any]:
    """Probes and hooks pointed at the agent get their recorded handlers back."""
    try:
        probers = orjson.loads(recorded) if recorded else {}
    except orjson.JSONDecodeError:
        probers = {}
        warnings.append(f"{app_probes.PROBERS_ENV} is not valid JSON: probes not restored")
    if not isinstance(probers, dict):
        probers = {}
    for path, original in probers.items():
        if not _restore_one(spec, str(path), original):
            warnings.append(
                f"probe {path}: not restored (the pod no longer points it at the agent)"
            )
    for field in _LISTS:
        for container in spec.get(field) or []:
            for where, handler in _handlers(container):
                http = handler.get("httpGet")
                if isinstance(http, dict) and str(http.get("path", "")).startswith(
                    ("/app-health/", "/app-lifecycle/")
                ):
                    warnings.append(
                        f"container {container.get('name')}: {where} points at the agent "
                        f"({http.get('path')}) and there is no record of the original"
                    )
    return spec


def _restore_one(spec: dict[str, Any], path: str, original: Any) -> bool:
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[2] not in _SUFFIXES or not isinstance(original, dict):
        return False
    kind = next((k for k in ("httpGet", "tcpSocket", "grpc") if k in original), None)
    if kind is None or not isinstance(original[kind], dict):
        return False
    where, field = _SUFFIXES[parts[2]]
    for list_name in _LISTS:
        items = spec.get(list_name) or []
        for i, container in enumerate(items):
            if not isinstance(container, dict) or container.get("name") != parts[1]:
                continue
            holder = container if where == "probe" else container.get("lifecycle")
            handler = holder.get(field) if isinstance(holder, dict) else None
            if not isinstance(handler, dict) or _pointed_path(handler) != path:
                return False
            new_handler = _with_action(handler, kind, dict(original[kind]))
            if where == "probe":
                updated = {**container, field: new_handler}
            else:
                updated = {**container, "lifecycle": {**holder, field: new_handler}}  # type: ignore[dict-item]
            spec[list_name] = [*items[:i], updated, *items[i + 1 :]]
            return True
    return False


def _pointed_path(handler: Mapping[str, Any]) -> str:
    http = handler.get("httpGet")
    return str(http.get("path", "")) if isinstance(http, dict) else ""


def _with_action(handler: Mapping[str, Any], kind: str, action: dict[str, Any]) -> dict[str, Any]:
    """``handler`` with its agent ``httpGet`` replaced by the original action, in place (an
    original ``httpGet`` keeps the key order the pod has)."""
    result: dict[str, Any] = {}
    for key, value in handler.items():
        if key != "httpGet":
            result[key] = value
        elif kind == "httpGet":
            ordered = {k: action[k] for k in value if k in action}
            result[key] = {**ordered, **action}
    if kind != "httpGet":
        result[kind] = action
    return result


def _handlers(container: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(container, dict):
        return []
    found = [(f, container[f]) for f, _ in app_probes.PROBES if isinstance(container.get(f), dict)]
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        found += [
            (f"lifecycle.{h}", lifecycle[h])
            for h, _ in app_probes.HOOKS
            if isinstance(lifecycle.get(h), dict)
        ]
    return found


def pod_annotations(
    annotations: dict[str, str],
    status: Mapping[str, Any],
    spec: Mapping[str, Any],
    env: Mapping[str, str],
    templates: list[str],
    warnings: list[str],
) -> dict[str, str]:
    """The annotations the templates ``templates`` set, removed where they hold the value the
    injection gives (the app's own Prometheus annotations back from the proxy's record)."""
    if annotations.get("istio.io/rev") == status["revision"]:
        del annotations["istio.io/rev"]
    first = next((c.get("name") for c in spec.get("containers") or [] if isinstance(c, dict)), None)
    for key in _DEFAULT_CONTAINER:
        # kubectl's own default is the first container: removing that value changes nothing.
        if key in annotations and annotations[key] == first:
            del annotations[key]
    _scrape(annotations, env, warnings)
    for template in templates:
        for key, value in _TEMPLATE_ANNOTATIONS.get(template, {}).items():
            if annotations.get(key) == value:
                del annotations[key]
    if _MULTUS in annotations:
        networks = _without_istio_cni(annotations[_MULTUS], warnings)
        if networks:
            annotations[_MULTUS] = networks
        else:
            del annotations[_MULTUS]
    return annotations


def _without_istio_cni(networks: str, warnings: list[str]) -> str:
    """The Multus network list without the ``istio-cni`` entry injection appends last (to a
    comma list as ``, default/istio-cni``; to a JSON list as an object, the list written
    compactly). An entry elsewhere in the list is the pod's own and stays."""
    text = networks.strip()
    if text == _ISTIO_CNI_NETWORK:
        return ""
    if text.endswith(", " + _ISTIO_CNI_NETWORK):
        return text.removesuffix(", " + _ISTIO_CNI_NETWORK)
    if not text.startswith("["):
        return networks
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return networks
    if not isinstance(items, list) or not items or items[-1] != _ISTIO_CNI_ENTRY:
        return networks
    warnings.append(
        f"{_MULTUS}: istio-cni removed from the JSON list, which comes back written compactly "
        "(injection rewrote it so; its original spacing is not recorded)"
    )
    return orjson.dumps(items[:-1]).decode() if items[:-1] else ""


def _scrape(annotations: dict[str, str], env: Mapping[str, str], warnings: list[str]) -> None:
    """The Prometheus merge's annotations, replaced by the app's own (recorded on the proxy)."""
    recorded = env.get(prometheus.ENV)
    port = annotations.get("prometheus.io/port", "")
    ours = (
        annotations.get("prometheus.io/path") == _SCRAPE_PATH
        and annotations.get("prometheus.io/scrape") == "true"
        and (recorded is not None or port == "15020")
    )
    if not ours:
        return
    for key in ("prometheus.io/port", "prometheus.io/path", "prometheus.io/scrape"):
        del annotations[key]
    original = prometheus.original_annotations(recorded or "")
    targets = prometheus.parse_targets(original.get(prometheus.TARGETS, ""))
    if targets:
        stand_ins = [
            f"prometheus.io/{key}"
            for key in ("port", "path")
            if original.get(f"prometheus.io/{key}") == targets[0][key]
        ]
        if stand_ins:
            warnings.append(
                f"{' and '.join(stand_ins)} restored from the first scrape target: the record "
                f"does not tell whether the pod set them or only {prometheus.TARGETS}"
            )
    annotations.update(original)


def pod_labels(
    labels: dict[str, str],
    metadata: Mapping[str, Any],
    workload: Workload | None,
    env: Mapping[str, str],
) -> dict[str, str]:
    if labels.get("security.istio.io/tlsMode") == "istio":
        del labels["security.istio.io/tlsMode"]
    if (
        labels.get("networking.istio.io/tunnel") == "http"
        and env.get("ISTIO_META_ENABLE_HBONE") == "true"
    ):
        del labels["networking.istio.io/tunnel"]
    name_key, revision_key = (
        "service.istio.io/canonical-name",
        "service.istio.io/canonical-revision",
    )
    others = {k: v for k, v in labels.items() if k not in (name_key, revision_key)}
    owner = workload or identity.from_pod(metadata, str(metadata.get("namespace") or "default"))
    if labels.get(name_key) == identity.canonical_name(others, owner):
        del labels[name_key]
    if labels.get(revision_key) == identity.canonical_revision(others):
        del labels[revision_key]
    return labels
