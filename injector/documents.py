"""Operator configuration documents (config, values, mesh): YAML or JSON text -> a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from injector import safeyaml
from injector.errors import ConfigError


def load_mapping(text: str, source: str, what: str) -> dict[str, Any]:
    """Parse ``text``; empty means ``{}``. ``ConfigError`` names ``source`` and the problem."""
    try:
        doc = safeyaml.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: {what} must be a mapping, got {type(doc).__name__}")
    return dict(doc)
