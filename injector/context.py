"""The variables a template sees, computed from the (stripped) pod, the config and the request.

Pure: the same inputs always give the same context, which is what makes render caching safe
(``Context`` says which part of it a render cache keys on, and how).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from injector import annotations as ann
from injector import identity, mesh, namespaces, quantity, render_cache, telemetry
from injector.config import InjectorConfig
from injector.identity import Workload

_RESOURCE_ANNOTATIONS = {
    ("requests", "cpu"): "sidecar.istio.io/proxyCPU",
    ("requests", "memory"): "sidecar.istio.io/proxyMemory",
    ("limits", "cpu"): "sidecar.istio.io/proxyCPULimit",
    ("limits", "memory"): "sidecar.istio.io/proxyMemoryLimit",
}
_VARIANTS = ("distroless", "debug")


@dataclass(frozen=True)
class Settings:
    """Per-pod settings derived once and shared by the template and post-processing."""

    native_sidecar: bool
    interception_mode: str
    proxy_config: dict[str, Any]
    status_port: str
    hold_application: bool
    proxy_uid: int
    proxy_gid: int
    workload: Workload


def settings(
    pod: Mapping[str, Any],
    config: InjectorConfig,
    workload: Workload,
    namespace_annotations: Mapping[str, str] | None,
) -> Settings:
    annotations: Mapping[str, str] = pod.get("metadata", {}).get("annotations") or {}
    proxy_config = dict(config.mesh.get("defaultConfig") or {})
    if "proxy.istio.io/config" in annotations:
        overlay, _ = mesh.parse_proxy_config(annotations["proxy.istio.io/config"])
        proxy_config = mesh.merge_proxy_config(proxy_config, overlay)
    native = config.native_sidecars
    if "sidecar.istio.io/nativeSidecar" in annotations:
        native = ann.parse_bool(annotations["sidecar.istio.io/nativeSidecar"])
    mode = annotations.get("sidecar.istio.io/interceptionMode") or str(
        proxy_config.get("interceptionMode") or "REDIRECT"
    )
    hold = bool(proxy_config.get("holdApplicationUntilProxyStarts")) or bool(
        config.values["global"]["proxy"]["holdApplicationUntilProxyStarts"]
    )
    uid, gid = _proxy_ids(namespace_annotations)
    if mode == "TPROXY":
        uid = gid = 1337
    status_port = annotations.get(
        "status.sidecar.istio.io/port", str(config.values["global"]["proxy"]["statusPort"])
    )
    return Settings(
        native, mode, proxy_config, status_port, hold and not native, uid, gid, workload
    )


def _proxy_ids(namespace_annotations: Mapping[str, str] | None) -> tuple[int, int]:
    """Istio's OpenShift rule: the top of the namespace's SCC UID range (GID: groups range)."""
    if not namespace_annotations:
        return 1337, 1337
    uid = namespaces.range_top(namespace_annotations.get("openshift.io/sa.scc.uid-range", ""))
    if uid is None:
        return 1337, 1337
    groups = namespace_annotations.get("openshift.io/sa.scc.supplemental-groups", "")
    gid = namespaces.range_top(groups.split(",")[0]) if groups else None
    return uid, gid if gid is not None else uid


@dataclass(frozen=True)
class Context:
    """The template variables, in three parts that a render cache treats differently.

    - ``pod``: the pod's own data (``pod``, ``spec``, ``labels``, ``annotations``), handed to
      the template as recording views: only what a render reads of it matters;
    - ``derived``: values computed here from the pod, the settings and the config; small,
      so they are part of the cache key whole;
    - ``shared``: the config (``values``, ``mesh``) and pure functions, the same for every
      pod of one config (the key's config content hash covers them).
    """

    pod: dict[str, Any]
    derived: dict[str, Any]
    shared: dict[str, Any]

    def key(self) -> bytes | None:
        """``derived`` as canonical JSON; None if it is not plain JSON (do not cache)."""
        try:
            return orjson.dumps(self.derived, option=_STRICT)
        except TypeError:
            return None

    def variables(self, trace: render_cache.Trace) -> dict[str, Any]:
        """What one render sees; its reads of the pod are recorded in ``trace``."""
        views = {name: render_cache.view(value, (name,), trace) for name, value in self.pod.items()}
        annotations = views["annotations"]

        def annotation(name: str, default: Any = "") -> Any:
            return annotations.get(name, default)

        return {**self.shared, **self.derived, **views, "annotation": annotation}


# Types orjson would write like a string (datetimes from YAML) must not share a key with one.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def build(pod: Mapping[str, Any], config: InjectorConfig, s: Settings) -> Context:
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    labels: Mapping[str, str] = metadata.get("labels") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    values = config.values
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    workload = s.workload
    compliance = telemetry.compliance_env(values)
    otel = (
        telemetry.resource_attributes(workload.namespace, labels, annotations, containers)
        if telemetry.semantic_conventions(config.mesh)
        else ""
    )
    derived = {
        "proxy_config": s.proxy_config,
        "proxy_config_json": orjson.dumps(mesh.clean_proxy_config(s.proxy_config)).decode() + "\n",
        "revision": values.get("revision") or "",
        "native_sidecar": s.native_sidecar,
        "hold_application": s.hold_application,
        "interception_mode": s.interception_mode,
        "status_port": s.status_port,
        "proxy_image": image(values, "proxy", s.proxy_config, annotations),
        "proxy_init_image": image(values, "proxy_init", s.proxy_config, annotations),
        "proxy_uid": s.proxy_uid,
        "proxy_gid": s.proxy_gid,
        "workload": workload.as_dict(),
        "workload_name": identity.workload_name(labels, workload),
        "app_containers": [c.get("name") for c in containers if c.get("name") != "istio-proxy"],
        "pod_ports_json": pod_ports_json(containers),
        "canonical_name": identity.canonical_name(labels, workload),
        "canonical_revision": identity.canonical_revision(labels),
        "trust_domain": config.mesh.get("trustDomain") or values["global"]["trustDomain"],
        "proxy_resources": proxy_resources(annotations, values),
        "user_volumes": _json_annotation(annotations, "sidecar.istio.io/userVolume"),
        "user_volume_mounts": _json_annotation(annotations, "sidecar.istio.io/userVolumeMount"),
        "inbound_traffic_policy_mode": str(
            (config.mesh.get("inboundTrafficPolicy") or {}).get("mode") or "passthrough"
        ).lower(),
        "compliance_policy": compliance.get("COMPLIANCE_POLICY", ""),
        "compliance_env": compliance,
        "otel_resource_attributes": otel,
    }
    shared = {
        "values": values,
        "mesh": config.mesh,
        "exclude_inbound_ports": exclude_inbound_ports,
        "join_ports": join_ports,
        "append_multus_network": append_multus_network,
    }
    own = {"pod": {"metadata": metadata, "spec": spec}, "spec": spec}
    own.update(labels=labels, annotations=annotations)
    return Context(own, derived, shared)


def image(
    values: Mapping[str, Any],
    component: str,
    proxy_config: Mapping[str, Any],
    annotations: Mapping[str, str],
) -> str:
    """Image of ``component`` (``proxy`` or ``proxy_init`` in values): the proxyImage
    annotation when it is a full reference, else ``<hub>/<image>:<tag>[-variant]``."""
    override = annotations.get("sidecar.istio.io/proxyImage", "")
    if "/" in override:
        return override
    name = str(values["global"][component]["image"] or "proxyv2")
    return _image(values, name, proxy_config, annotations)


def _image(
    values: Mapping[str, Any],
    name: str,
    proxy_config: Mapping[str, Any],
    annotations: Mapping[str, str],
) -> str:
    if "/" in name:
        return name
    glob = values["global"]
    variant = str(glob.get("variant") or "")
    image_type = (proxy_config.get("image") or {}).get("imageType")
    if image_type:
        variant = str(image_type)
    variant = annotations.get("sidecar.istio.io/proxyImageType", variant)
    return f"{glob['hub']}/{name}:{_tag_with_variant(str(glob['tag']), variant)}"


def _tag_with_variant(tag: str, variant: str) -> str:
    if not variant:
        return tag
    for known in _VARIANTS:
        if tag.endswith("-" + known):
            tag = tag[: -len(known) - 1]
            break
    return tag if variant == "default" else f"{tag}-{variant}"


def pod_ports_json(containers: Sequence[Mapping[str, Any]]) -> str:
    """``ISTIO_META_POD_PORTS``, formatted as Istio does (one port per line).

    The ports of a user-declared ``istio-proxy`` are not app ports and are left out (Istio
    counts them only while that container sits under ``containers``, which changes between
    injection and re-injection with native sidecars).
    """
    lines = ["["]
    for container in containers:
        if container.get("name") == "istio-proxy":
            continue
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                prefix = "    " if len(lines) == 1 else "    ,"
                lines.append(prefix + _port_json(port))
    lines.append("]")
    return "\n".join(lines)


def _port_json(port: Mapping[str, Any]) -> str:
    ordered = {
        k: port[k]
        for k in ("name", "hostPort", "containerPort", "protocol", "hostIP")
        if port.get(k)
    }
    return json.dumps(ordered, separators=(",", ":"))


def proxy_resources(annotations: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    """Istio's rule: any resource annotation replaces the whole values block."""
    if any(name in annotations for name in _RESOURCE_ANNOTATIONS.values()):
        result: dict[str, dict[str, str]] = {}
        for (section, resource), name in _RESOURCE_ANNOTATIONS.items():
            if name in annotations:
                result.setdefault(section, {})[resource] = quantity.canonical(annotations[name])
        return result
    configured = values["global"]["proxy"].get("resources") or {}
    result = {}
    for section in ("requests", "limits"):
        entries = {
            k: quantity.canonical(str(v))
            for k, v in (configured.get(section) or {}).items()
            if v is not None
        }
        if entries:
            result[section] = entries
    return result


def exclude_inbound_ports(status_port: Any, excluded: Any) -> str:
    """The user's excluded inbound ports plus the status port (unless it is 0)."""
    ports = ann.split_list(str(excluded or ""))
    port = str(status_port)
    if port != "0" and port not in ports:
        ports.append(port)
    return ",".join(ports)


def join_ports(*parts: Any) -> str:
    return ",".join(str(p) for p in parts if str(p))


def append_multus_network(current: str, network: str) -> str:
    """Append to ``k8s.v1.cni.cncf.io/networks`` in its own form (comma list or JSON list)."""
    text = current.strip()
    if not text:
        return network
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            return f"{text}, {network}"
        if not any(isinstance(i, dict) and i.get("name") == "istio-cni" for i in items):
            items.append({"name": "istio-cni", "namespace": "default"})
        return json.dumps(items, separators=(",", ":"))
    names = [n.strip() for n in text.split(",")]
    return text if network in names or "istio-cni" in names else f"{text}, {network}"


def _json_annotation(annotations: Mapping[str, str], name: str) -> dict[str, Any]:
    """A ``userVolume``-style annotation as ``{name: object}``. Istio also takes a JSON array
    and ranges over it by index: items are keyed by their index, and a ``name`` inside an
    item (either form) wins over its key in the template."""
    if name not in annotations:
        return {}
    loaded = json.loads(annotations[name])
    if isinstance(loaded, list):
        return {str(n): item for n, item in enumerate(loaded)}
    return loaded if isinstance(loaded, dict) else {}
