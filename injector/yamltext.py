"""Plain JSON-like values as block-style YAML text, in the style of the document around them.

``injector inject`` writes only what an injection adds or changes; this module renders those
fragments. Strings are plain when YAML would read them back as the same string, single-quoted
otherwise (``'15020'``, ``'true'``, ``'*'``, ``'129e6'``, ``'n'``), double-quoted when they span
lines. A string is quoted when any reader of the output would take it for something else:
YAML 1.1 (PyYAML: ``on``, ``1:20``, ``2020-01-01``), YAML 1.2's core schema (ruamel, yaml-rs:
``129e6``, ``0o12``) or Kubernetes (kubectl and the API server read YAML with go-yaml v2, for
which ``y`` and ``n`` are booleans and ``0X1F`` a number). See ``injector.safeyaml`` for which
parser reads what.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Style:
    """Indentation of a document: nested mappings step by ``mapping``; a sequence that is a
    mapping value puts its ``-`` ``offset`` columns right of the key (0 = Helm's style)."""

    mapping: int = 2
    offset: int = 2


def scalar(value: Any) -> str:
    """One scalar (or an empty collection) as inline YAML."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _string(str(value))


def _float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    return text if "." in text or "e" in text else text + ".0"


# Plain scalars that YAML 1.2's core schema resolves to a number, boolean or null.
_YAML12_NOT_STRING = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|true|True|TRUE|false|False|FALSE|null|Null|NULL|~"
)


# Plain scalars that Kubernetes' go-yaml v2 resolves to a boolean or a number and that neither
# YAML 1.1 (PyYAML's dumper quotes those) nor the pattern above covers.
_KUBERNETES_NOT_STRING = re.compile(r"[yYnN]|[-+]?0[XOB][0-9a-fA-F_]+")


def _not_a_string_somewhere(text: str) -> bool:
    return bool(_YAML12_NOT_STRING.fullmatch(text) or _KUBERNETES_NOT_STRING.fullmatch(text))


@functools.lru_cache(maxsize=8192)
def _string(text: str) -> str:
    if "\n" in text or "\r" in text:
        return json.dumps(text, ensure_ascii=False)
    if _not_a_string_somewhere(text):
        return "'" + text + "'"
    dumped = yaml.dump(text, Dumper=yaml.CSafeDumper, width=1 << 30, allow_unicode=True)
    return dumped.removesuffix("\n...\n").removesuffix("\n")


def needs_quotes(text: str) -> bool:
    """Whether ``text`` written plain would be read back as something other than this string."""
    return _string(text) != text


def nested(value: Any) -> bool:
    return isinstance(value, Mapping | list) and bool(value)


def nested_in(value: Any) -> bool:
    """Whether a collection holds collections (then it is written in block style)."""
    children = value.values() if isinstance(value, Mapping) else value
    return any(isinstance(child, Mapping | list) for child in children)


def flow(value: Any) -> str:
    """A collection of scalars in flow style: ``{a: 1, b: x}``, ``[a, b]``."""
    if isinstance(value, Mapping):
        pairs = (f"{flow_scalar(k)}: {flow_scalar(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow_scalar(v) for v in value) + "]"
    return flow_scalar(value)


def flow_scalar(value: Any) -> str:
    """A scalar inside a flow collection (where ``,[]{}`` need quotes too)."""
    if isinstance(value, str):
        return _flow_string(value)
    return scalar(value)


@functools.lru_cache(maxsize=8192)
def _flow_string(text: str) -> str:
    if "\n" in text or "\r" in text:
        return json.dumps(text, ensure_ascii=False)
    if _not_a_string_somewhere(text):
        return "'" + text + "'"
    dumped = yaml.dump(
        [text], Dumper=yaml.CSafeDumper, width=1 << 30, allow_unicode=True, default_flow_style=True
    )
    return dumped.strip()[1:-1]


def lines(
    value: Any, indent: int, style: Style, keep: Mapping[int, str] | None = None
) -> list[str]:
    """``value`` (a non-empty mapping or list) as block lines starting at column ``indent``.

    ``keep`` maps ``id()`` of direct children to the text they are written as (unchanged
    flow collections of the user's that stay as written)."""
    out: list[str] = []
    _block(value, indent, style, out, keep or {})
    return out


def entry(key: str, value: Any, indent: int, style: Style) -> list[str]:
    """One ``key: value`` mapping entry at column ``indent``."""
    out: list[str] = []
    _entry(key, value, indent, style, out)
    return out


def item(value: Any, dash: int, width: int, style: Style) -> list[str]:
    """One sequence item: ``-`` at column ``dash``, its content ``width`` columns right."""
    out: list[str] = []
    _item(value, dash, width, style, out)
    return out


def _block(
    value: Any, indent: int, style: Style, out: list[str], keep: Mapping[int, str] | None = None
) -> None:
    keep = keep or {}
    if isinstance(value, Mapping):
        for key, child in value.items():
            if id(child) in keep:
                out.append(" " * indent + _string(str(key)) + ": " + keep[id(child)])
            else:
                _entry(str(key), child, indent, style, out)
    else:
        for child in value:
            if id(child) in keep:
                out.append(" " * indent + "- " + keep[id(child)])
            else:
                _item(child, indent, 2, style, out)


def _entry(key: str, value: Any, indent: int, style: Style, out: list[str]) -> None:
    head = " " * indent + _string(key) + ":"
    if not nested(value):
        out.append(f"{head} {scalar(value)}")
        return
    out.append(head)
    step = style.mapping if isinstance(value, Mapping) else style.offset
    _block(value, indent + step, style, out)


def _item(value: Any, dash: int, width: int, style: Style, out: list[str]) -> None:
    prefix = " " * dash + "-" + " " * (width - 1)
    if not nested(value):
        out.append(prefix + scalar(value))
        return
    start = len(out)
    _block(value, dash + width, style, out)
    out[start] = prefix + out[start][dash + width :]
