"""Telemetry and compliance settings the proxy gets as environment variables.

``OTEL_RESOURCE_ATTRIBUTES``: when an OpenTelemetry tracing provider of the mesh asks for
``serviceAttributeEnrichment: OTEL_SEMANTIC_CONVENTIONS``, the proxy describes its workload
with OpenTelemetry's Kubernetes service attributes, each from its
``resource.opentelemetry.io/<attribute>`` pod annotation first:

- ``service.namespace``: the pod's namespace;
- ``service.version``: label ``app.kubernetes.io/version``, else the image tag (or digest)
  when the pod has one app container;
- ``service.instance.id``: ``<namespace>.$(POD_NAME).<first app container>`` (the kubelet
  expands ``$(POD_NAME)``).

``COMPLIANCE_POLICY``: Istio's ``pilot.env.COMPLIANCE_POLICY``, passed to the proxy;
``fips-140-3`` also restricts Go's crypto to FIPS 140-3 (``GODEBUG=fips140=only``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

SEMANTIC_CONVENTIONS = "OTEL_SEMANTIC_CONVENTIONS"
_ANNOTATION = "resource.opentelemetry.io/"
# Characters an attribute value keeps as they are; the rest is percent-encoded, as the
# OpenTelemetry environment format requires (``,`` and ``=`` separate the pairs).
_SAFE = "!#$&'()*+-./:;<>?@[]^_`{|}~"
_GODEBUG = {"fips-140-3": "fips140=only"}


def semantic_conventions(mesh: Mapping[str, Any]) -> bool:
    """Whether an OpenTelemetry provider of the mesh enriches spans with service attributes."""
    for provider in mesh.get("extensionProviders") or []:
        otel = provider.get("opentelemetry") if isinstance(provider, Mapping) else None
        if isinstance(otel, Mapping) and otel.get("serviceAttributeEnrichment") == (
            SEMANTIC_CONVENTIONS
        ):
            return True
    return False


def resource_attributes(
    namespace: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    containers: Sequence[Mapping[str, Any]],
) -> str:
    """The ``OTEL_RESOURCE_ATTRIBUTES`` value for a pod (``key=value,...``)."""
    apps = [c for c in containers if c.get("name") != "istio-proxy"]
    version = labels.get("app.kubernetes.io/version") or (
        image_version(str(apps[0].get("image") or "")) if len(apps) == 1 else ""
    )
    instance = f"{namespace}.$(POD_NAME).{apps[0].get('name')}" if apps else ""
    attributes = {
        "service.namespace": namespace,
        "service.version": version,
        "service.instance.id": instance,
    }
    pairs = []
    for key, default in attributes.items():
        value = annotations.get(_ANNOTATION + key) or default
        if value:
            pairs.append(f"{key}={quote(value, safe=_SAFE)}")
    return ",".join(pairs)


def image_version(image: str) -> str:
    """The tag of an image reference, or its digest (``repo@sha256:...``); ``""`` if neither."""
    if "@" in image:
        return image.partition("@")[2]
    last = image.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def compliance_env(values: Mapping[str, Any]) -> dict[str, str]:
    """``COMPLIANCE_POLICY`` (and ``GODEBUG`` for FIPS 140-3) from the values, in order."""
    policy = str((values.get("pilot") or {}).get("env", {}).get("COMPLIANCE_POLICY") or "")
    if not policy:
        return {}
    env = {"COMPLIANCE_POLICY": policy}
    if policy in _GODEBUG:
        env["GODEBUG"] = _GODEBUG[policy]
    return env
