"""Istio's Helm values (the ``values`` key of ``istio-sidecar-injector``), checked and merged.

The user's document is laid over our defaults (``data/values.yaml``). Every key we do not know
is reported once, as a warning, and ignored; a known key with a value of the wrong type is a
``ConfigError`` naming its path. ``null`` means "keep the default", as in Helm.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from injector import documents
from injector.errors import ConfigError

# Values whose content is free-form (passed through to the template as they are).
_OPAQUE = frozenset(
    {
        "global.proxy.resources",
        "global.proxy.lifecycle",
        "global.proxy.seccompProfile",
        "sidecarInjectorWebhook.injectedAnnotations",
        "sidecarInjectorWebhook.templates",
        "sidecarInjectorWebhook.neverInjectSelector",
        "sidecarInjectorWebhook.alwaysInjectSelector",
        "pilot.env",
        "gateways.securityContext",
        "gateways.seccompProfile",
        "global.imagePullSecrets",
        "sidecarInjectorWebhook.defaultTemplates",
        "meshConfig",
    }
)


def default_values() -> dict[str, Any]:
    text = resources.files("injector").joinpath("data/values.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    loaded["global"]["proxy"].setdefault("seccompProfile", {})
    return loaded


def load_values(text: str, source: str) -> tuple[dict[str, Any], list[str]]:
    """Parse a values document (YAML or JSON) and merge it over the defaults."""
    doc = documents.load_mapping(text, source, "values")
    return merge_values(default_values(), doc, source)


# Values an Istio install carries that injection does not read: settings of istiod, gateways,
# CNI, telemetry and the other charts of the same install (``pilot.*``: any key under
# ``pilot`` other than the ``cni`` and ``env`` we read). They are ignored without a warning.
_ISTIO_INSTALL = frozenset(
    {
        "base", "cni", "compatibilityVersion", "defaultRevision", "experimental",
        "gatewayClasses", "gateways.*", "istioctl", "istiodRemote", "istio_cni", "ownerName",
        "pilot.*", "profile", "revisionTags", "telemetry", "ztunnel",
        "global.agentgateway", "global.arch", "global.autoscalingv2API", "global.caCertificates",
        "global.certSigners", "global.configCluster", "global.configRootNamespace",
        "global.configValidation", "global.createRemoteSvcEndpoints",
        "global.defaultConfigVisibilitySettings", "global.defaultNodeSelector",
        "global.defaultPodDisruptionBudget", "global.defaultResources",
        "global.defaultTolerations", "global.enableHelmTest", "global.externalIstiod",
        "global.ipFamilies", "global.ipFamilyPolicy", "global.istiod", "global.meshNetworks",
        "global.multiCluster.enabled", "global.multiCluster.globalDomainSuffix",
        "global.multiCluster.includeEnvoyFilter", "global.networkPolicy",
        "global.omitSidecarInjectorConfigMap", "global.oneNamespace",
        "global.operatorManageWebhooks", "global.platform", "global.priorityClassName",
        "global.proxy.enableCoreDump", "global.proxy_init.resources",
        "global.remotePilotAddress", "global.remotePilotCreateSvcEndpoint",
        "global.resourceScope", "global.tracer", "global.trustBundleName", "global.useMCP",
        "global.waypoint",
    }
)  # fmt: skip
_LISTED = 5  # unknown values named in the warning; the rest are counted


def merge_values(
    defaults: Mapping[str, Any], overlay: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], list[str]]:
    """``overlay`` over ``defaults``; the warnings name the values that are neither ours nor
    an Istio install's (in one line: the first few, then how many more)."""
    unknown: list[str] = []
    merged = _merge(copy.deepcopy(dict(defaults)), overlay, "", source, unknown)
    foreign = sorted(
        path
        for path in unknown
        if path not in _ISTIO_INSTALL and path.rpartition(".")[0] + ".*" not in _ISTIO_INSTALL
    )
    warnings = []
    if foreign:
        named = ", ".join(foreign[:_LISTED])
        more = f" and {len(foreign) - _LISTED} more" if len(foreign) > _LISTED else ""
        warnings.append(f"{source}: ignoring unknown values: {named}{more}")
    return merged, warnings


def _merge(
    base: dict[str, Any], overlay: Mapping[str, Any], prefix: str, source: str, unknown: list[str]
) -> dict[str, Any]:
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        if key not in base:
            unknown.append(path)
            continue
        if value is None:
            continue
        default = base[key]
        _check_type(path, default, value, source)
        if isinstance(default, dict) and path not in _OPAQUE:
            base[key] = _merge(default, value, path + ".", source, unknown)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _check_type(path: str, default: Any, value: Any, source: str) -> None:
    expected: type | tuple[type, ...] = type(default)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = int
    else:
        ok = isinstance(value, expected)
    if not ok:
        name = {
            dict: "a mapping",
            list: "a list",
            str: "a string",
            int: "an integer",
            bool: "a boolean",
        }
        want = name.get(expected, str(expected)) if isinstance(expected, type) else "a value"
        raise ConfigError(
            f"{source}: {path}: expected {want}, got {type(value).__name__} {value!r}"
        )
