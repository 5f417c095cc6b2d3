"""The decision "inject or skip, and why": Istio's webhook-side rules, as one pure function.

Order (Istio ``injectRequired``): hostNetwork → ignored namespace → explicit
``sidecar.istio.io/inject`` (pod label wins over the deprecated annotation) → never-inject
selectors → always-inject selectors → the policy (``enabled``/``disabled``). The API server
has already applied the webhook's namespace/object selectors before we are called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from injector import selectors
from injector.config import InjectorConfig

INJECT_KEY = "sidecar.istio.io/inject"


@dataclass(frozen=True)
class Decision:
    inject: bool
    reason: str
    warning: str | None = None


def decide(
    metadata: Mapping[str, Any], spec: Mapping[str, Any], namespace: str, config: InjectorConfig
) -> Decision:
    """Whether to inject this pod, with the reason the CLI and the webhook both show."""
    if spec.get("hostNetwork"):
        return Decision(False, "pod uses hostNetwork: capture would change the node's network")
    if namespace in config.ignored_namespaces:
        return Decision(False, f"namespace {namespace} is a system namespace, never injected")
    labels: Mapping[str, str] = metadata.get("labels") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    explicit, where, warning = _explicit(labels, annotations)
    if explicit is True:
        return Decision(True, f"{where} {INJECT_KEY}=true")
    if explicit is False:
        return Decision(False, f"{where} {INJECT_KEY}=false")
    for index, selector in enumerate(config.never_inject_selector):
        if not selectors.is_empty(selector) and selectors.matches(selector, labels):
            return Decision(False, f"pod labels match neverInjectSelector[{index}]", warning)
    for index, selector in enumerate(config.always_inject_selector):
        if not selectors.is_empty(selector) and selectors.matches(selector, labels):
            return Decision(True, f"pod labels match alwaysInjectSelector[{index}]", warning)
    if config.policy == "enabled":
        return Decision(True, "injection policy is enabled", warning)
    if config.policy == "disabled":
        return Decision(False, "injection policy is disabled and the pod does not opt in", warning)
    return Decision(False, f"unknown injection policy {config.policy!r}: never injecting", warning)


def _explicit(
    labels: Mapping[str, str], annotations: Mapping[str, str]
) -> tuple[bool | None, str, str | None]:
    if INJECT_KEY in labels:
        value, where = labels[INJECT_KEY], "pod label"
    elif INJECT_KEY in annotations:
        value, where = annotations[INJECT_KEY], "pod annotation"
    else:
        return None, "", None
    if value == "true":
        return True, where, None
    if value == "false":
        return False, where, None
    if value == "":
        return None, where, None
    warning = f"{where} {INJECT_KEY}={value!r} is not 'true' or 'false'; using the default policy"
    return None, where, warning
