"""The fallback for documents whose text cannot be edited in place: ruamel round trip.

Used when YAML aliases share nodes of a workload (``labels: *labels``, ``<<: *meta``), where
an edit at the anchor would change every place that refers to it. The document is loaded by
ruamel, every alias gets its own copy, the core's patches are applied, and the document is
written back: comments and key order survive, indentation is normalised. The caller has
already bounded the size aliases expand to.

ruamel writes YAML 1.2, where ``on`` or ``n`` need no quotes; kubectl reads them as booleans.
The strings an injection adds are therefore quoted by the same rule as in-place edits
(``yamltext.needs_quotes``); the document's own scalars keep their quoting as written.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from injector import yamltext

Patch = tuple[tuple[str | int, ...], list[dict[str, Any]]]


def reemit(body: str, patches: Sequence[Patch], mapping_indent: int) -> str:
    """``body`` with each ``(path to a pod template, JSON Patch)`` applied, re-emitted."""
    data, indent, block_seq_indent = load_yaml_guess_indent(body, yaml=_yaml())
    _unshare(data, {id(data)})
    for path, ops in patches:
        template = data
        for step in path:
            template = template[step]
        if "metadata" not in template and isinstance(template, CommentedMap):
            template.insert(0, "metadata", CommentedMap())  # added metadata comes before spec
        jsonpatch.apply_patch(template, [_quoted_op(op) for op in ops], in_place=True)
        _block_style_for_new_content(template)
    yaml = _yaml()
    yaml.width = 4096
    offset = block_seq_indent or 0
    yaml.indent(mapping=mapping_indent, sequence=indent or (mapping_indent + offset), offset=offset)
    stream = io.StringIO()
    yaml.dump(data, stream)
    dumped = stream.getvalue()
    return dumped.rstrip("\n") + (body[len(body.rstrip()) :] or "\n")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    return yaml


def _quoted_op(op: dict[str, Any]) -> dict[str, Any]:
    return {**op, "value": _quoted(op["value"])} if "value" in op else op


def _quoted(value: Any) -> Any:
    """``value`` with every string a plain scalar would misrepresent marked single-quoted."""
    if isinstance(value, str):
        if "\n" not in value and "\r" not in value and yamltext.needs_quotes(value):
            return SingleQuotedScalarString(value)
        return value
    if isinstance(value, Mapping):
        return {key: _quoted(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_quoted(child) for child in value]
    return value


def _unshare(node: Any, seen: set[int]) -> None:
    """Give every place its own copy of a node that YAML aliases share (the first place
    keeps the node). The round-trip loader never builds cycles, so the walk ends."""
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for key, child in list(items):
        if not isinstance(child, dict | list):
            continue
        if id(child) in seen:
            child = node[key] = copy.deepcopy(child)
        seen.add(id(child))
        _unshare(child, seen)


def _block_style_for_new_content(node: Any) -> bool:
    """Flow collections that received our new objects switch to block style; returns
    whether ``node`` holds new content, so untouched flow collections stay as written."""
    if isinstance(node, CommentedMap | CommentedSeq):
        children = node.values() if isinstance(node, CommentedMap) else node
        new = False
        for child in children:
            new |= _block_style_for_new_content(child)
        if new:
            node.fa.set_block_style()
        return new
    return isinstance(node, dict | list)
