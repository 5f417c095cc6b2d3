"""Which engine a template is written for: Istio's Go syntax or our Jinja2.

A first line ``# syntax: go`` (or ``# syntax: jinja``) decides; it is a YAML comment, so
either engine passes it through. Otherwise Jinja's own delimiters (``{%``, ``{#``) mean
Jinja2, and actions only Go has (``{{ .Field``, ``{{ $var``, ``{{ if``, ``{{ end``, a
``{{/* comment``, or a ``.Field`` argument) mean Go. Text with neither renders the same
either way and is treated as Jinja2.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\A[ \t]*#[ \t]*syntax:[ \t]*(go|jinja)[ \t]*$", re.MULTILINE)
_JINJA = re.compile(r"{%|{#")
_GO = re.compile(
    r"{{-?\s*(?:[.$]|/\*|(?:if|range|with|define|template|block|end|else)\b)"
    r"|{{[^}]*?\s[.$][A-Za-z_]"
)


def of(text: str) -> str:
    """``"go"`` or ``"jinja"``."""
    marker = _MARKER.match(text)
    if marker:
        return marker.group(1)
    if _JINJA.search(text):
        return "jinja"
    return "go" if _GO.search(text) else "jinja"
