"""Prometheus metrics merge (Istio ``applyPrometheusMerge``).

The app's ``prometheus.io/{scrape,path,port}`` annotations (any spelling Prometheus
normalises to ``prometheus_io_*``) and ``prometheus.istio.io/scrape-targets`` are captured
into ``ISTIO_PROMETHEUS_ANNOTATIONS`` on the proxy and replaced by the agent's merged
endpoint (``:15020/stats/prometheus``), which serves app and Envoy metrics together.

The env value has the agent's layout: ``scrape``, ``path`` and ``port`` always (empty when
unset), then ``targets`` when several endpoints are given, each with ``port`` and ``path``.
With targets and no ``prometheus.io/port``/``path`` of its own, the first target stands in
for them, so an agent that reads only the single endpoint still scrapes the app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from injector import annotations as ann
from injector.errors import InjectionError

ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
TARGETS = "prometheus.istio.io/scrape-targets"
MERGE = "prometheus.istio.io/merge-metrics"
_KEYS = {
    "prometheus_io_scrape": "scrape",
    "prometheus_io_path": "path",
    "prometheus_io_port": "port",
}
# Ports the agent and Envoy own: an app scrape target there would scrape ourselves.
RESERVED_PORTS = frozenset({15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090})
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(name: str) -> str:
    """The label name Prometheus makes of an annotation (``prometheus.io/port`` ->
    ``prometheus_io_port``); names that cannot be one of ours skip the regex."""
    if not name.startswith("prometheus"):
        return name
    return _INVALID.sub("_", name)


def scrape_enabled(annotations: Mapping[str, str]) -> bool:
    for key, value in annotations.items():
        if sanitize(key) == "prometheus_io_scrape" and value in ann.BOOL_VALUES:
            return ann.parse_bool(value)
    return True


def merge_enabled(annotations: Mapping[str, str], mesh: Mapping[str, Any]) -> bool:
    if MERGE in annotations:
        return ann.parse_bool(annotations[MERGE])
    return bool(mesh.get("enablePrometheusMerge", True))


def scrape_config(annotations: Mapping[str, str]) -> dict[str, Any]:
    """The app's scrape settings in the agent's layout (``{}`` when the app set none)."""
    found = {"scrape": "", "path": "", "port": ""}
    for key, value in annotations.items():
        field = _KEYS.get(sanitize(key))
        if field:
            found[field] = value
    targets = parse_targets(annotations[TARGETS]) if TARGETS in annotations else []
    if targets:
        found["port"] = found["port"] or targets[0]["port"]
        found["path"] = found["path"] or targets[0]["path"]
    config: dict[str, Any] = dict(found)
    if targets:
        config["targets"] = targets
    return config if any(found.values()) or targets else {}


def parse_targets(text: str) -> list[dict[str, str]]:
    """``"8080:/metrics,9090"`` ->
    ``[{"port": "8080", "path": "/metrics"}, {"port": "9090", "path": ""}]``."""
    targets = []
    problems = []
    for item in ann.split_list(text):
        port, _, path = item.partition(":")
        if not ann.is_decimal(port) or not 1 <= int(port) <= 65535:
            problems.append(f"{item!r} has no valid port")
            continue
        if int(port) in RESERVED_PORTS:
            problems.append(f"port {port} is reserved by the proxy")
            continue
        if path and not path.startswith("/"):
            path = "/" + path
        targets.append({"port": port, "path": path})
    if problems:
        raise InjectionError(f"annotation {TARGETS}: " + "; ".join(problems))
    return targets


def apply(annotations: dict[str, str], mesh: Mapping[str, Any], target_port: str) -> str | None:
    """Rewrite ``annotations`` in place; returns the env value to add to the proxy, if any."""
    if not scrape_enabled(annotations) or not merge_enabled(annotations, mesh):
        return None
    current = next((v for k, v in annotations.items() if sanitize(k) == "prometheus_io_port"), None)
    if current == target_port:
        return None  # already pointing at the agent (the user's choice, or a re-injection)
    config = scrape_config(annotations)
    port = config.get("port")
    if port is not None and ann.is_decimal(port) and int(port) in RESERVED_PORTS:
        raise InjectionError(
            f"annotation prometheus.io/port: {port} is reserved by the proxy; "
            "scrape the app on its own port"
        )
    for key in [k for k in annotations if sanitize(k) in _KEYS or k == TARGETS]:
        del annotations[key]
    annotations["prometheus.io/port"] = target_port
    annotations["prometheus.io/path"] = "/stats/prometheus"
    annotations["prometheus.io/scrape"] = "true"
    return orjson.dumps(config).decode() if config else None


def original_annotations(env_value: str) -> dict[str, str]:
    """The app's own scrape annotations, back from an ``ISTIO_PROMETHEUS_ANNOTATIONS`` value
    (for re-injection); the inverse of ``apply`` up to the first target standing in."""
    try:
        config = orjson.loads(env_value or "{}")
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(config, dict):
        return {}
    restored = {
        f"prometheus.io/{k}": v
        for k, v in config.items()
        if k in ("scrape", "path", "port") and isinstance(v, str) and v
    }
    targets = config.get("targets")
    if isinstance(targets, list) and targets:
        restored[TARGETS] = ",".join(
            f"{t.get('port')}:{t['path']}" if t.get("path") else str(t.get("port"))
            for t in targets
            if isinstance(t, dict)
        )
    return restored
