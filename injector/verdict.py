"""The INJECT and REASON columns of ``injector check``, in one place.

Offline, the namespace's labels are unknown, and they decide whether the API server calls
the webhook at all: a pod is injected for sure only when its own label opts it in
(``sidecar.istio.io/inject=true``, which Istio's object selector matches in any namespace).
Otherwise ``check`` says ``ns?``: injected if the namespace has ``istio-injection=enabled``
or an ``istio.io/rev`` label. When the caller knows the labels (``namespace_labels``), the
verdict is definite.
"""

from __future__ import annotations

from collections.abc import Mapping

from injector.manifests import Report

INJECT_LABEL = "sidecar.istio.io/inject"


def verdict(report: Report, namespace_labels: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(INJECT, REASON)`` for one row: yes, no, ns?, error, or - (a kind we pass over)."""
    if report.error:
        return "error", report.error
    if report.passed_over:
        return "-", (
            f"kind {report.kind} is not injected by `injector inject` "
            f"(its pod template at {report.passed_over} was not looked at)"
        )
    outcome = report.outcome
    if outcome is None or not outcome.injected:
        return "no", outcome.reason if outcome else "not evaluated"
    if report.labels.get(INJECT_LABEL) == "true":
        return "yes", outcome.reason
    selected = _namespace_selected(namespace_labels)
    if selected is None:
        return "ns?", (
            f"namespace {report.namespace} unknown: injected if it is labelled "
            f"istio-injection=enabled or istio.io/rev ({outcome.reason})"
        )
    if not selected:
        return "no", f"namespace {report.namespace} is not labelled for injection"
    return "yes", outcome.reason


def _namespace_selected(labels: Mapping[str, str] | None) -> bool | None:
    if labels is None:
        return None
    if labels.get("istio-injection") == "disabled":
        return False
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels
