"""The decision "inject or skip, and why" as a table (after Istio's ``TestInjectRequired``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from injector.config import default_config
from injector.policy import decide

BASE = default_config()
NEVER = ({"matchLabels": {"team": "legacy"}},)
ALWAYS = ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},)
DISABLED = replace(BASE, policy="disabled")
SELECTORS = replace(BASE, never_inject_selector=NEVER, always_inject_selector=ALWAYS)
SELECTORS_DISABLED = replace(SELECTORS, policy="disabled")


def meta(
    labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"labels": labels or {}, "annotations": annotations or {}}


# (case, metadata, spec, namespace, config, inject?, reason fragment)
TABLE = [
    ("default policy injects", meta(), {}, "apps", BASE, True, "policy is enabled"),
    ("disabled policy skips", meta(), {}, "apps", DISABLED, False, "policy is disabled"),
    (
        "hostNetwork wins over label",
        meta({"sidecar.istio.io/inject": "true"}),
        {"hostNetwork": True},
        "apps",
        BASE,
        False,
        "hostNetwork",
    ),
    (
        "system namespace skipped",
        meta({"sidecar.istio.io/inject": "true"}),
        {},
        "kube-system",
        BASE,
        False,
        "system namespace",
    ),
    (
        "local-path-storage skipped",
        meta(),
        {},
        "local-path-storage",
        BASE,
        False,
        "system namespace",
    ),
    (
        "label true overrides disabled policy",
        meta({"sidecar.istio.io/inject": "true"}),
        {},
        "apps",
        DISABLED,
        True,
        "pod label",
    ),
    (
        "label false overrides enabled policy",
        meta({"sidecar.istio.io/inject": "false"}),
        {},
        "apps",
        BASE,
        False,
        "pod label sidecar.istio.io/inject=false",
    ),
    (
        "annotation false skips",
        meta(annotations={"sidecar.istio.io/inject": "false"}),
        {},
        "apps",
        BASE,
        False,
        "pod annotation",
    ),
    (
        "annotation true opts in",
        meta(annotations={"sidecar.istio.io/inject": "true"}),
        {},
        "apps",
        DISABLED,
        True,
        "pod annotation",
    ),
    (
        "label wins over annotation",
        meta({"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}),
        {},
        "apps",
        BASE,
        True,
        "pod label",
    ),
    (
        "label false wins over annotation true",
        meta({"sidecar.istio.io/inject": "false"}, {"sidecar.istio.io/inject": "true"}),
        {},
        "apps",
        BASE,
        False,
        "pod label",
    ),
    (
        "invalid value falls back to policy",
        meta({"sidecar.istio.io/inject": "yes"}),
        {},
        "apps",
        DISABLED,
        False,
        "policy is disabled",
    ),
    (
        "empty value falls back to policy",
        meta({"sidecar.istio.io/inject": ""}),
        {},
        "apps",
        BASE,
        True,
        "policy is enabled",
    ),
    (
        "never selector skips",
        meta({"team": "legacy"}),
        {},
        "apps",
        SELECTORS,
        False,
        "neverInjectSelector[0]",
    ),
    (
        "always selector injects",
        meta({"tier": "web"}),
        {},
        "apps",
        SELECTORS_DISABLED,
        True,
        "alwaysInjectSelector[0]",
    ),
    (
        "never beats always",
        meta({"team": "legacy", "tier": "web"}),
        {},
        "apps",
        SELECTORS_DISABLED,
        False,
        "neverInjectSelector",
    ),
    (
        "explicit label beats never",
        meta({"team": "legacy", "sidecar.istio.io/inject": "true"}),
        {},
        "apps",
        SELECTORS,
        True,
        "pod label",
    ),
    (
        "no selector match uses policy",
        meta({"tier": "db"}),
        {},
        "apps",
        SELECTORS_DISABLED,
        False,
        "policy is disabled",
    ),
    (
        "unknown policy never injects",
        meta(),
        {},
        "apps",
        replace(BASE, policy="sometimes"),
        False,
        "unknown injection policy",
    ),
]


@pytest.mark.parametrize(
    ("case", "metadata", "spec", "namespace", "config", "inject", "reason"),
    TABLE,
    ids=[t[0] for t in TABLE],
)
def test_decision(
    case: str,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    namespace: str,
    config: Any,
    inject: bool,
    reason: str,
) -> None:
    decision = decide(metadata, spec, namespace, config)
    assert decision.inject is inject
    assert reason in decision.reason


def test_invalid_value_carries_a_warning() -> None:
    decision = decide(meta({"sidecar.istio.io/inject": "yes"}), {}, "apps", BASE)
    assert decision.warning is not None
    assert "'yes'" in decision.warning and "true' or 'false" in decision.warning


def test_empty_selector_is_ignored() -> None:
    config = replace(BASE, never_inject_selector=({},))
    assert decide(meta({"a": "b"}), {}, "apps", config).inject is True
