"""Apply a JSON Patch to YAML *text*: only the lines an operation touches change.

The document is composed once (PyYAML's C parser: nodes with their positions); each operation
of the core's patch becomes one text edit at the position of the node it names: a new mapping
entry after the mapping's last line, a new sequence item before the item it precedes (or after
the last one), a new value in place of the old one. Everything else -- comments, indentation,
quoting, blank lines, ``null`` spellings, line endings -- is the user's text, untouched.

A flow collection (``{a: 1}``, ``[]``) that an operation changes is rewritten whole, in block
style. What this module cannot place (documents whose nodes YAML aliases share) raises
``Unplaceable``; the caller then re-emits the document another way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from injector import safeyaml, yamltext
from injector.yamltext import Style


class Unplaceable(Exception):
    """An operation that cannot be expressed as a local edit of the text."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str
    order: int


@dataclass(frozen=True)
class _Step:
    """One node on an operation's path, with what holds it (for indentation)."""

    node: Node
    parent: Node | None


class Splicer:
    """Collects the edits of one document's patches; ``apply`` returns the new text."""

    def __init__(self, text: str, style: Style, newline: str) -> None:
        self.text = text
        self.style = style
        self.newline = newline
        self.edits: list[_Edit] = []
        self._shadows: dict[int, list[int | None]] = {}
        self._flows: dict[int, tuple[_Step, Any, list[dict[str, Any]]]] = {}
        # local edits inside a flow collection, with their operations (relative to it)
        self._in_flow_edits: dict[int, list[tuple[_Edit, dict[str, Any]]]] = {}

    def patch(self, root: Node, ops: list[dict[str, Any]]) -> None:
        """Apply JSON Patch ``ops`` (paths relative to ``root``)."""
        for op in ops:
            tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
            self._op(root, op, tokens)

    def apply(self) -> str:
        for step, value, ops in self._flows.values():
            jsonpatch.apply_patch(value, ops, in_place=True)
            self._replace(step, value, flow=True)
        out: list[str] = []
        at = 0
        for edit in sorted(self.edits, key=lambda e: (e.start, e.order)):
            if edit.start < at:
                raise Unplaceable("overlapping edits")
            out.append(self.text[at : edit.start])
            out.append(edit.text)
            at = edit.end
        out.append(self.text[at:])
        return "".join(out)

    # -- walking -------------------------------------------------------------------------

    def _op(self, root: Node, op: dict[str, Any], tokens: list[str]) -> None:
        if not tokens:
            raise Unplaceable("an operation on the whole object")
        step, flow = _Step(root, None), None
        for depth, token in enumerate(tokens):
            node = step.node
            if id(node) in self._flows:  # inside a flow collection being rewritten
                self._in_flow(step, op, tokens[depth:])
                return
            if flow is None and _is_flow(node):
                flow = (step, depth)
            if depth == len(tokens) - 1:
                break
            step = _Step(self._child(node, token), node)
        node, last, value = step.node, tokens[-1], op.get("value")
        if flow is not None and (op["op"] == "remove" or yamltext.nested(value)):
            self._in_flow(flow[0], op, tokens[flow[1] :])
        elif op["op"] == "add":
            (self._flow_add if flow else self._add)(node, last, value)
            self._note_flow_edit(flow, op, tokens)
        elif op["op"] == "remove":
            self._remove(node, last)
        elif op["op"] == "replace":
            target = _Step(self._child(node, last), node)
            if flow:
                end = self._end(target.node)
                text = self._scalar(target.node, value, flow=True)
                self._edit(target.node.start_mark.index, end, text)
                self._note_flow_edit(flow, op, tokens)
            else:
                self._replace(target, value)
        else:
            raise Unplaceable(f"operation {op['op']}")

    def _child(self, node: Node, token: str) -> Node:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == token:
                    child: Node = value
                    return child
        elif isinstance(node, SequenceNode) and token.isdigit():
            old = self._shadow(node)[int(token)]
            if old is not None:
                item: Node = node.value[old]
                return item
        raise Unplaceable(f"no node at {token!r}")

    def _shadow(self, node: SequenceNode) -> list[int | None]:
        """Indexes of the original items, as the operations so far moved them (None: new)."""
        return self._shadows.setdefault(id(node), list(range(len(node.value))))

    def _in_flow(self, step: _Step, op: dict[str, Any], rest: list[str]) -> None:
        """Operations inside a flow collection rewrite it whole (in block style); the local
        edits earlier operations made in it become part of the rewrite."""
        node = step.node
        if id(node) not in self._flows:
            value = safeyaml.Loader("").construct_document(node)
            earlier = self._in_flow_edits.pop(id(node), [])
            self.edits = [e for e in self.edits if not any(e is d for d, _ in earlier)]
            self._flows[id(node)] = (step, value, [o for _, o in earlier])
        self._flows[id(node)][2].append({**op, "path": _pointer(rest)})

    def _note_flow_edit(
        self, flow: tuple[_Step, int] | None, op: dict[str, Any], tokens: list[str]
    ) -> None:
        """Remember the local edit just made inside a flow collection, in case a later
        operation rewrites the collection whole."""
        if flow is not None:
            edits = self._in_flow_edits.setdefault(id(flow[0].node), [])
            edits.append((self.edits[-1], {**op, "path": _pointer(tokens[flow[1] :])}))

    # -- edits ---------------------------------------------------------------------------

    def _edit(self, start: int, end: int, text: str) -> None:
        self.edits.append(_Edit(start, end, text, len(self.edits)))

    def _add(self, node: Node, token: str, value: Any) -> None:
        nl = self.newline
        if isinstance(node, MappingNode):
            indent = node.value[0][0].start_mark.column
            text = nl.join(yamltext.entry(token, value, indent, self.style)) + nl
            if token == "metadata":  # Kubernetes objects read metadata first
                start = self._line_start(node.value[0][0].start_mark.index)
                self._edit(start, start, text)
            else:
                self._insert_after(self._end(node), text)
            return
        if not isinstance(node, SequenceNode):
            raise Unplaceable("add into a scalar")
        dash, width, _ = self._dash(node.value[0])
        text = nl.join(yamltext.item(value, dash, width, self.style)) + nl
        shadow = self._shadow(node)
        at = len(shadow) if token == "-" else int(token)
        following = [old for old in shadow[at:] if old is not None]
        shadow.insert(at, None)
        if following:
            start = self._line_start(self._dash(node.value[following[0]])[2])
            self._edit(start, start, text)
        else:
            self._insert_after(self._end(node), text)

    def _flow_add(self, node: Node, token: str, value: Any) -> None:
        """A scalar into a flow collection: ``{a: 1}`` -> ``{a: 1, b: 2}``."""
        text = yamltext.flow_scalar(value)
        if isinstance(node, MappingNode):
            text = f"{yamltext.flow_scalar(token)}: {text}"
        items = node.value
        if isinstance(node, SequenceNode):
            shadow = self._shadow(node)
            at = len(shadow) if token == "-" else int(token)
            following = [old for old in shadow[at:] if old is not None]
            shadow.insert(at, None)
            if following:
                start = items[following[0]].start_mark.index
                self._edit(start, start, text + ", ")
                return
        if items:
            last = items[-1][1] if isinstance(node, MappingNode) else items[-1]
            end = self._end(last)
            self._edit(end, end, ", " + text)
        else:
            start = node.start_mark.index + 1
            self._edit(start, start, text)

    def _remove(self, node: Node, token: str) -> None:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if key.value == token:
                    self._delete_lines(key.start_mark.index, self._end(value))
                    return
            raise Unplaceable(f"no key {token!r}")
        if not isinstance(node, SequenceNode):
            raise Unplaceable("remove from a scalar")
        shadow = self._shadow(node)
        old = shadow.pop(int(token))
        if old is None:
            raise Unplaceable("removing an item an operation added")
        if not shadow:  # deleting the lines would leave `key:` (null), not an empty list
            raise Unplaceable("emptying a block sequence")
        child = node.value[old]
        self._delete_lines(self._dash(child)[2], self._end(child))

    def _replace(self, step: _Step, value: Any, *, flow: bool = False) -> None:
        node, parent = step.node, step.parent
        start, end = node.start_mark.index, self._end(node)
        if not yamltext.nested(value) or (flow and not yamltext.nested_in(value)):
            self._edit(start, end, self._flow(node, value) if flow else self._scalar(node, value))
            return
        keep = self._unchanged_children(node, value) if flow else {}
        if isinstance(parent, SequenceNode):  # `- <value>`: first line after the dash
            indent = node.start_mark.column
            rendered = yamltext.lines(value, indent, self.style, keep)
            self._edit(start, end, self.newline.join(rendered)[indent:])
            return
        if parent is None:
            raise Unplaceable("replacing the whole object")
        key_column = _key_column(parent, node)
        step_width = self.style.mapping if isinstance(value, dict) else self.style.offset
        rendered = yamltext.lines(value, key_column + step_width, self.style, keep)
        while start > 0 and self.text[start - 1] in " \t":
            start -= 1
        self._edit(start, end, self.newline + self.newline.join(rendered))

    def _scalar(self, node: Node, value: Any, *, flow: bool = False) -> str:
        """A new scalar in place of ``node``, in the old one's quoting style if it was quoted."""
        if isinstance(node, ScalarNode) and isinstance(value, str) and "\n" not in value:
            if node.style == '"':
                return json.dumps(value, ensure_ascii=False)
            if node.style == "'":
                return "'" + value.replace("'", "''") + "'"
        return yamltext.flow_scalar(value) if flow else yamltext.scalar(value)

    def _flow(self, node: Node, value: Any) -> str:
        """A rewritten flow mapping of scalars: a key kept keeps its text, a value replaced
        keeps its quoting (``{port: "8081"}`` stays double-quoted)."""
        if not (isinstance(node, MappingNode) and isinstance(value, dict)):
            return yamltext.flow(value)
        loader = safeyaml.Loader("")
        olds = {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
        pairs = []
        for key, child in value.items():
            if key not in olds:
                pairs.append(f"{yamltext.flow_scalar(key)}: {yamltext.flow_scalar(child)}")
                continue
            old_key, old = olds[key]
            key_text = self.text[old_key.start_mark.index : self._end(old_key)]
            if loader.construct_object(old, deep=True) == child:
                pairs.append(f"{key_text}: {self.text[old.start_mark.index : self._end(old)]}")
            else:
                pairs.append(f"{key_text}: {self._scalar(old, child, flow=True)}")
        return "{" + ", ".join(pairs) + "}"

    def _unchanged_children(self, node: Node, value: Any) -> dict[int, str]:
        """Children of a rewritten collection that did not change keep their own text."""
        loader = safeyaml.Loader("")
        if isinstance(node, MappingNode) and isinstance(value, dict):
            pairs = [(loader.construct_object(k, deep=True), v) for k, v in node.value]
            olds = {key: child for key, child in pairs if isinstance(key, str)}
            candidates = [(olds[k], v) for k, v in value.items() if k in olds]
        elif isinstance(node, SequenceNode) and isinstance(value, list):
            candidates = [(old, new) for old in node.value for new in value]
        else:
            return {}
        keep: dict[int, str] = {}
        used: set[int] = set()
        for old, new in candidates:
            if id(new) in keep or id(old) in used:
                continue
            if loader.construct_object(old, deep=True) == new:
                keep[id(new)] = self.text[old.start_mark.index : self._end(old)]
                used.add(id(old))
        return keep

    # -- positions -----------------------------------------------------------------------

    def _insert_after(self, position: int, text: str) -> None:
        cut = self.text.find("\n", position)
        if cut < 0:
            self._edit(len(self.text), len(self.text), self.newline + text)
        else:
            self._edit(cut + 1, cut + 1, text)

    def _delete_lines(self, start: int, end: int) -> None:
        first = self._line_start(start)
        if self.text[first:start].strip():
            raise Unplaceable("a removed node shares its line")
        cut = self.text.find("\n", end)
        self._edit(first, len(self.text) if cut < 0 else cut + 1, "")

    def _line_start(self, position: int) -> int:
        return self.text.rfind("\n", 0, position) + 1

    def _end(self, node: Node) -> int:
        """Where the node's own text ends (block scalars: before their trailing line breaks)."""
        while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
            last = node.value[-1]
            node = last[1] if isinstance(node, MappingNode) else last
        end = int(node.end_mark.index)
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            while end > node.start_mark.index and self.text[end - 1] in "\r\n":
                end -= 1
        return end

    def _dash(self, item: Node) -> tuple[int, int, int]:
        """Column of the ``-`` before ``item``, the width to its content, and its index."""
        at = item.start_mark.index - 1
        while at >= 0 and self.text[at] in " \t\r\n":
            at -= 1
        if at < 0 or self.text[at] != "-":
            raise Unplaceable("sequence item without a dash")
        column = at - self._line_start(at)
        same_line = "\n" not in self.text[at : item.start_mark.index]
        width = item.start_mark.column - column if same_line else 2
        return column, width, at


def _is_flow(node: Node) -> bool:
    return isinstance(node, MappingNode | SequenceNode) and bool(node.flow_style)


def _key_column(parent: Node, node: Node) -> int:
    if isinstance(parent, MappingNode):
        for key, value in parent.value:
            if value is node:
                return int(key.start_mark.column)
    raise Unplaceable("value without a key")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
