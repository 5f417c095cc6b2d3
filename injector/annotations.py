"""Validation of the per-pod annotations Istio validates (``pkg/kube/inject/validate.go``).

One validator per annotation; ``validate`` runs them all and returns every problem, so a
user fixes a pod in one round. Each message names the annotation and the bad value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping

from injector import mesh, quantity

Validator = Callable[[str], str | None]

BOOL_VALUES = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` (callers validate first)."""
    return text in ("1", "t", "T", "TRUE", "true", "True")


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _boolean(value: str) -> str | None:
    return None if value in BOOL_VALUES else "is not a boolean (true/false)"


def _uint(bits: int) -> Validator:
    def check(value: str) -> str | None:
        if not value.isdigit() or int(value) >= 2**bits:
            return f"is not an unsigned {bits}-bit integer"
        return None

    return check


def _port(item: str) -> bool:
    return item.isdigit() and 1 <= int(item) <= 65535


def _ports(allow_wildcard: bool) -> Validator:
    def check(value: str) -> str | None:
        if allow_wildcard and value.strip() == "*":
            return None
        bad = [item for item in split_list(value) if not _port(item)]
        if bad:
            return f"has invalid port(s) {', '.join(bad)} (ports are 1-65535)"
        return None

    return check


def _cidrs(allow_wildcard: bool) -> Validator:
    def check(value: str) -> str | None:
        if value.strip() == "*":
            return None if allow_wildcard else "'*' is not allowed here (list CIDRs)"
        bad = []
        for item in split_list(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                bad.append(item)
        if bad:
            wildcard = " or '*'" if allow_wildcard else ""
            return (
                f"has invalid CIDR(s) {', '.join(bad)} (expected a comma list of CIDRs{wildcard})"
            )
        return None

    return check


def _interfaces(value: str) -> str | None:
    bad = [
        name
        for name in split_list(value)
        if len(name) > 15 or "/" in name or name in (".", "..") or any(c.isspace() for c in name)
    ]
    return f"has invalid interface name(s) {', '.join(bad)}" if bad else None


def _interception(value: str) -> str | None:
    if value in ("REDIRECT", "TPROXY", "NONE"):
        return None
    return "is not one of REDIRECT, TPROXY, NONE"


def _quantity(value: str) -> str | None:
    if any(ord(c) < 32 for c in value) or not quantity.is_valid(value):
        return "is not a resource quantity (e.g. 100m, 1, 128Mi)"
    return None


def _json_object_of_objects(value: str) -> str | None:
    try:
        doc = json.loads(value)
    except ValueError:
        return "is not valid JSON"
    items = doc if isinstance(doc, list) else doc.values() if isinstance(doc, dict) else None
    if items is None or not all(isinstance(v, dict) for v in items):
        return "must be a JSON object mapping names to objects, or a JSON array of objects"
    return None


def _configmap_name(value: str) -> str | None:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        return "is not a valid ConfigMap name"
    return None


def _proxy_config(value: str) -> str | None:
    _, problems = mesh.parse_proxy_config(value)
    return "; ".join(p.removeprefix("proxy.istio.io/config: ") for p in problems) or None


VALIDATORS: dict[str, Validator] = {
    "sidecar.istio.io/interceptionMode": _interception,
    "status.sidecar.istio.io/port": _uint(16),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _uint(32),
    "readiness.status.sidecar.istio.io/periodSeconds": _uint(32),
    "readiness.status.sidecar.istio.io/failureThreshold": _uint(32),
    "readiness.status.sidecar.istio.io/applicationPorts": _ports(allow_wildcard=True),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _cidrs(allow_wildcard=True),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _cidrs(allow_wildcard=False),
    "traffic.sidecar.istio.io/includeInboundPorts": _ports(allow_wildcard=True),
    "traffic.sidecar.istio.io/excludeInboundPorts": _ports(allow_wildcard=False),
    "traffic.sidecar.istio.io/includeOutboundPorts": _ports(allow_wildcard=False),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _ports(allow_wildcard=False),
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "prometheus.istio.io/merge-metrics": _boolean,
    "sidecar.istio.io/rewriteAppHTTPProbers": _boolean,
    "sidecar.istio.io/nativeSidecar": _boolean,
    "sidecar.istio.io/capNetBindService": _boolean,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
    "sidecar.istio.io/userVolume": _json_object_of_objects,
    "sidecar.istio.io/userVolumeMount": _json_object_of_objects,
    "sidecar.istio.io/bootstrapOverride": _configmap_name,
}


def validate(annotations: Mapping[str, str]) -> list[str]:
    """Every problem with the pod's annotations (empty when all are valid)."""
    problems = []
    for name, check in VALIDATORS.items():
        if name not in annotations:
            continue
        value = annotations[name]
        if not isinstance(value, str):
            problems.append(f"annotation {name}: value {value!r} is not a string")
            continue
        problem = check(value)
        if problem:
            problems.append(f"annotation {name}: {_show(value)} {problem}")
    return problems


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")
