"""Mesh config and ProxyConfig: the parts that change the injected pod.

``mesh.defaultConfig`` is Istio's ProxyConfig; the ``proxy.istio.io/config`` annotation lays
a ProxyConfig over it (proto merge: scalars replaced, maps merged, lists appended).
``PROXY_CONFIG`` on the proxy carries the merged config minus Istio's built-in defaults,
durations in protobuf's JSON form (``1m`` -> ``60s``) and fields in the proto's order, as
Istio writes it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from injector import documents, durations, jsonshape, safeyaml
from injector.errors import ConfigError

# Istio's built-in ProxyConfig defaults (mesh.DefaultProxyConfig); equal fields are left out
# of PROXY_CONFIG, as Istio does, to keep the pod small.
ISTIO_PROXY_DEFAULTS: dict[str, Any] = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "terminationDrainDuration": "5s",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "proxyAdminPort": 15000,
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "statNameLength": 189,
    "statusPort": 15020,
    "concurrency": 2,
}

# ProxyConfig fields (istio.io/api mesh/v1alpha1 ProxyConfig) in the proto's field order
# (the order of PROXY_CONFIG), with their JSON type. Anything else is an error, as in Istio.
_PROXY_FIELDS: dict[str, type | tuple[type, ...] | None] = {
    "configPath": str,
    "binaryPath": str,
    "serviceCluster": str,
    "drainDuration": str,
    "parentShutdownDuration": str,
    "discoveryAddress": str,
    "discoveryRefreshDelay": str,
    "zipkinAddress": str,
    "statsdUdpAddress": str,
    "envoyMetricsServiceAddress": str,
    "proxyAdminPort": int,
    "availabilityZone": str,
    "controlPlaneAuthPolicy": str,
    "customConfigFile": str,
    "statNameLength": int,
    "concurrency": int,
    "proxyBootstrapTemplatePath": str,
    "interceptionMode": str,
    "tracing": dict,
    "sds": dict,
    "envoyAccessLogService": dict,
    "envoyMetricsService": dict,
    "proxyMetadata": dict,
    "statusPort": int,
    "extraStatTags": list,
    "gatewayTopology": dict,
    "terminationDrainDuration": str,
    "meshId": str,
    "readinessProbe": dict,
    "proxyStatsMatcher": dict,
    "holdApplicationUntilProxyStarts": bool,
    "caCertificatesPem": list,
    "image": dict,
    "runtimeValues": dict,
    "privateKeyProvider": dict,
    "proxyHeaders": dict,
    "fileFlushInterval": str,
    "fileFlushMinSizeKb": int,
    "tracingServiceName": str,
    "serviceClusterName": str,
}
_DURATIONS = frozenset(
    {
        "drainDuration",
        "parentShutdownDuration",
        "discoveryRefreshDelay",
        "terminationDrainDuration",
        "fileFlushInterval",
    }
)
_ORDER = {name: i for i, name in enumerate(_PROXY_FIELDS)}
_INTERCEPTION_MODES = ("REDIRECT", "TPROXY", "NONE")
_PORT = range(1, 65536)
_INT32 = range(0, 2**31)  # protobuf int32 fields that Istio requires to be non-negative
_INT_RANGES = {"proxyAdminPort": _PORT, "statusPort": _PORT, "fileFlushMinSizeKb": range(2**32)}
# Mesh-level ports: where the proxy listens (Istio validates them as ports too).
_MESH_PORTS = ("proxyListenPort", "proxyInboundListenPort", "proxyHttpPort")


def default_mesh() -> dict[str, Any]:
    text = resources.files("injector").joinpath("data/mesh.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def load_mesh(text: str, source: str) -> dict[str, Any]:
    """Parse a MeshConfig document and lay it over our defaults."""
    return mesh_from_mapping(documents.load_mapping(text, source, "mesh config"), source)


def mesh_from_mapping(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Lay a parsed MeshConfig (a mesh file, or the values' ``meshConfig``) over our defaults."""
    mesh = default_mesh()
    for key, kind in (
        ("trustDomain", str),
        ("proxyListenPort", int),
        ("proxyInboundListenPort", int),
        ("enablePrometheusMerge", bool),
        ("inboundTrafficPolicy", dict),
        ("outboundTrafficPolicy", dict),
        ("defaultConfig", dict),
        ("extensionProviders", list),
    ):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise ConfigError(f"{source}: {key}: expected {kind.__name__}, got {doc[key]!r}")
    for key in _MESH_PORTS:
        port = doc.get(key)
        if port is not None and (isinstance(port, bool) or port not in _PORT):
            raise ConfigError(f"{source}: {key}: {port!r} is not a port (1-65535)")
    mesh.update({k: v for k, v in doc.items() if v is not None and k != "defaultConfig"})
    problems = validate_proxy_config(doc.get("defaultConfig") or {})
    if problems:
        raise ConfigError(f"{source}: defaultConfig: " + "; ".join(problems))
    mesh["defaultConfig"] = dict(doc.get("defaultConfig") or {})
    return mesh


def parse_proxy_config(text: str) -> tuple[dict[str, Any], list[str]]:
    """Parse the ``proxy.istio.io/config`` annotation; returns (config, problems)."""
    try:
        doc = safeyaml.load(text, safeyaml.ANNOTATION)
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0]
        return {}, [f"proxy.istio.io/config: not valid YAML/JSON ({first_line})"]
    if doc is None:
        return {}, []
    if not isinstance(doc, Mapping):
        return {}, [f"proxy.istio.io/config: expected a ProxyConfig mapping, got {_short(doc)}"]
    shape = jsonshape.problem(doc, "proxy.istio.io/config", max_depth=32)
    if shape is not None:
        return {}, [shape]
    return dict(doc), [f"proxy.istio.io/config: {p}" for p in validate_proxy_config(doc)]


def validate_proxy_config(doc: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, value in doc.items():
        if key not in _PROXY_FIELDS:
            problems.append(f"unknown field {key!r}")
            continue
        kind = _PROXY_FIELDS[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{key}: expected an integer, got {_short(value)}")
        elif kind is int and value not in _INT_RANGES.get(key, _INT32):
            bounds = _INT_RANGES.get(key, _INT32)
            problems.append(f"{key}: {value} is out of range ({bounds[0]}-{bounds[-1]})")
        elif kind is not None and kind is not int and not isinstance(value, kind):
            problems.append(
                f"{key}: expected {getattr(kind, '__name__', kind)}, got {_short(value)}"
            )
        elif key in _DURATIONS:
            try:
                durations.parse(value)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
    mode = doc.get("interceptionMode")
    if isinstance(mode, str) and mode not in _INTERCEPTION_MODES:
        problems.append(
            f"interceptionMode: {mode!r} is not one of {', '.join(_INTERCEPTION_MODES)}"
        )
    metadata = doc.get("proxyMetadata")
    if isinstance(metadata, Mapping):
        for name, value in metadata.items():
            if not env_name_ok(name):
                problems.append(
                    f"proxyMetadata: {_short(name)} is not an environment variable name "
                    "(printable ASCII other than '=')"
                )
            elif not isinstance(value, str):
                problems.append(f"proxyMetadata.{name}: expected a string, got {value!r}")
    return problems


def env_name_ok(name: object) -> bool:
    """What the API server accepts as an ``env[].name``: printable ASCII other than ``=``."""
    return isinstance(name, str) and name != "" and all(" " <= c <= "~" and c != "=" for c in name)


def merge_proxy_config(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            result[key] = merge_proxy_config(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            result[key] = current + list(value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def clean_proxy_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What ``PROXY_CONFIG`` carries: the config without fields equal to Istio's defaults,
    durations in protobuf's JSON form, fields in the proto's order."""
    cleaned = {}
    for key in sorted(config, key=lambda k: _ORDER.get(k, len(_ORDER))):
        value = config[key]
        if key in _DURATIONS and isinstance(value, str):
            value = durations.normalize(value)
        elif key == "proxyMetadata" and isinstance(value, Mapping):
            value = dict(sorted(value.items()))  # Go writes map keys sorted
        if ISTIO_PROXY_DEFAULTS.get(key, _MISSING) != value:
            cleaned[key] = value
    return cleaned


_MISSING = object()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
