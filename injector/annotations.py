"""Validation of the per-pod annotations Istio validates (``pkg/kube/inject/validate.go``).

One validator per annotation; ``validate`` runs them all and returns every problem, so a
user fixes a pod in one round. Each message names the annotation and the bad value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping

from injector import mesh, quantity, uservolumes

Validator = Callable[[str], str | None]

BOOL_VALUES = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
MAX_TOTAL_BYTES = 256 * 1024  # all annotations of one object (Kubernetes' limit)
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` (callers validate first)."""
    return text in ("1", "t", "T", "TRUE", "true", "True")


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _boolean(value: str) -> str | None:
    return None if value in BOOL_VALUES else "is not a boolean (true/false)"


def is_decimal(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ``²`` and other digits ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _uint(bits: int) -> Validator:
    def check(value: str) -> str | None:
        if not is_decimal(value) or int(value) >= 2**bits:
            return f"is not an unsigned {bits}-bit integer"
        return None

    return check


def _int32(value: str) -> str | None:
    """Probe fields: Istio parses them as uint32, the API server's field is an int32."""
    if not is_decimal(value) or int(value) >= 2**31:
        return "is not an integer from 0 to 2147483647"
    return None


def _port(item: str) -> bool:
    return is_decimal(item) and 1 <= int(item) <= 65535


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
            else:
                if "%" in item:  # an IPv6 scope: Python takes it, iptables does not
                    bad.append(item)
        if bad:
            wildcard = " or '*'" if allow_wildcard else ""
            return (
                f"has invalid CIDR(s) {', '.join(bad)} (expected a comma list of CIDRs{wildcard})"
            )
        return None

    return check


def _interface_name(name: str) -> bool:
    """A name the kernel accepts (at most 15 bytes, no ``/``, ``:`` or space) and that
    cannot be taken for a flag of ``istio-init`` (a leading ``-``)."""
    return (
        len(name.encode()) <= 15
        and name not in (".", "..")
        and not name.startswith("-")
        and not any(c in "/:" or not c.isprintable() or c.isspace() for c in name)
    )


def _interfaces(value: str) -> str | None:
    bad = [name for name in split_list(value) if not _interface_name(name)]
    return f"has invalid interface name(s) {', '.join(map(repr, bad))}" if bad else None


def _interception(value: str) -> str | None:
    if value in ("REDIRECT", "TPROXY", "NONE"):
        return None
    return "is not one of REDIRECT, TPROXY, NONE"


def _quantity(value: str) -> str | None:
    if any(ord(c) < 32 for c in value) or not quantity.is_valid(value):
        return "is not a resource quantity (e.g. 100m, 1, 128Mi)"
    if quantity.parse(value) < 0:
        return "is negative"
    return None


def _image(value: str) -> str | None:
    if value != value.strip():
        return "has leading or trailing whitespace"
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
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _int32,
    "readiness.status.sidecar.istio.io/periodSeconds": _int32,
    "readiness.status.sidecar.istio.io/failureThreshold": _int32,
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
    "sidecar.istio.io/proxyImage": _image,
    uservolumes.VOLUME: uservolumes.volume,
    uservolumes.MOUNT: uservolumes.mount,
    "sidecar.istio.io/bootstrapOverride": _configmap_name,
}


def validate(annotations: Mapping[str, str]) -> list[str]:
    """Every problem with the pod's annotations (empty when all are valid)."""
    size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
    if size > MAX_TOTAL_BYTES:  # the API server's limit: we would only waste work on it
        return [f"annotations total {size} bytes, over the limit of {MAX_TOTAL_BYTES}"]
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
    return problems or _requests_within_limits(annotations)


_REQUEST_LIMITS = (
    ("sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyCPULimit"),
    ("sidecar.istio.io/proxyMemory", "sidecar.istio.io/proxyMemoryLimit"),
)


def _requests_within_limits(annotations: Mapping[str, str]) -> list[str]:
    """A request above its limit: the API server refuses the pod (values already checked)."""
    return [
        f"annotation {request}: {annotations[request]!r} is more than "
        f"{limit} {annotations[limit]!r}"
        for request, limit in _REQUEST_LIMITS
        if request in annotations
        and limit in annotations
        and quantity.parse(annotations[request]) > quantity.parse(annotations[limit])
    ]


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")
