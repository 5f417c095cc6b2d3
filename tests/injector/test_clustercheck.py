"""``clustercheck.selection``: which live webhook entry the API server would call, and why."""

from __future__ import annotations

import pytest

from injector.clustercheck import ClusterView, Entry, selection

ENABLED = {
    "matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]
}
NOT_FALSE = {
    "matchExpressions": [
        {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}
    ]
}
VIEW = ClusterView(
    {"shop": {"istio-injection": "enabled", "kubernetes.io/metadata.name": "shop"}, "web": {}},
    (Entry("sidecar-injector", "namespace.example", ENABLED, NOT_FALSE),),
)


@pytest.mark.parametrize(
    ("namespace", "pod_labels", "entry", "reason"),
    [
        ("shop", {}, "namespace.example", "selected by webhook sidecar-injector/namespace.example"),
        (
            "shop",
            {"sidecar.istio.io/inject": "false"},
            None,
            "no webhook entry selects it: namespace shop labels istio-injection=enabled, "
            "pod labels sidecar.istio.io/inject=false",
        ),
        (
            "web",
            {},
            None,
            "no webhook entry selects it: namespace web labels (none), pod labels (none)",
        ),
        ("gone", {}, None, "namespace gone does not exist in the cluster"),
    ],
)
def test_selection(
    namespace: str, pod_labels: dict[str, str], entry: str | None, reason: str
) -> None:
    chosen = selection(VIEW, namespace, pod_labels)
    assert (chosen.entry.name if chosen.entry else None) == entry
    assert chosen.reason == reason


def test_no_webhook_configuration_installed() -> None:
    chosen = selection(ClusterView({"shop": {}}, ()), "shop", {})
    assert chosen.entry is None
    assert "no MutatingWebhookConfiguration of sidecar-injector" in chosen.reason
