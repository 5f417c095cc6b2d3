"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``), as pure data checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from injector.errors import ConfigError

_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


def validate(selector: Any, where: str) -> None:
    """Raise ``ConfigError`` if ``selector`` is not a well-formed LabelSelector."""
    if not isinstance(selector, Mapping):
        raise ConfigError(f"{where}: a label selector must be a mapping, got {selector!r}")
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{where}: matchLabels must map label names to strings")
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise ConfigError(f"{where}: matchExpressions must be a list")
    for expr in expressions:
        if not isinstance(expr, Mapping) or expr.get("operator") not in _OPERATORS:
            raise ConfigError(f"{where}: bad matchExpressions entry {expr!r}")
        if not isinstance(expr.get("key"), str) or not expr["key"]:
            raise ConfigError(f"{where}: matchExpressions entry {expr!r} needs a key")
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            # a string would match by substring: "web" in "we"
            raise ConfigError(f"{where}: matchExpressions values must be a list of strings")
        if expr["operator"] in ("In", "NotIn") and not values:
            raise ConfigError(f"{where}: operator {expr['operator']} needs values")


def is_empty(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """True if ``labels`` satisfy every requirement (an empty selector matches everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
