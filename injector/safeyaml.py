"""PyYAML loading for text that users control: bounded size, nesting and alias expansion.

``yaml.safe_load`` refuses arbitrary objects but not a "billion laughs": nine levels of
anchors, each aliased ten times, make a few hundred bytes stand for a billion nodes. PyYAML
shares the aliased objects, so the load itself is cheap, but anything that walks or serialises
the result (JSON, a template, a cache key) pays for every expanded node. Kubernetes' own
decoder refuses such documents ("excessive aliasing", CVE-2019-11253); so does ``load``:

- the text is at most ``Limits.max_bytes`` long (checked before parsing);
- nesting is at most ``Limits.max_depth`` deep (libyaml stops at 1000 on its own);
- aliases (``*name`` and ``<<: *name``) may add at most ``Limits.max_alias_nodes`` nodes to
  the document as it would be written out without them. A document without aliases is
  never refused for its node count: its size is already bounded by ``max_bytes``.

``check_aliases`` works on any composed node graph whose collection nodes keep their children
in ``.value`` (PyYAML's and ruamel.yaml's nodes both do), for callers with their own loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1024 * 1024  # a whole ConfigMap is at most 1 MiB
    max_depth: int = 100
    max_alias_nodes: int = 10_000


DEFAULT = Limits()
# All annotations of an object together are at most 256 KiB (the API server's limit).
ANNOTATION = Limits(max_bytes=256 * 1024)


class YAMLLimitError(yaml.YAMLError):
    """The document is over one of the ``Limits`` (the message says which, and by how much)."""


def load(text: str, limits: Limits = DEFAULT) -> Any:
    """Parse one YAML (or JSON) document like ``yaml.safe_load``, within ``limits``.

    Raises ``yaml.YAMLError`` for bad syntax and ``YAMLLimitError`` (a subclass) for a
    document over the limits; callers add the source's name to the message.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise YAMLLimitError(f"document is {size} bytes; the limit is {limits.max_bytes}")
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # the pure-Python composer, without libyaml
            raise YAMLLimitError(f"nesting deeper than {limits.max_depth} levels") from None
        if node is None:
            return None
        check_aliases(node, limits)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def check_aliases(root: Any, limits: Limits = DEFAULT) -> None:
    """Raise ``YAMLLimitError`` if ``root``'s graph nests too deep or aliases expand too much.

    Counts, without expanding anything, how many nodes the document would have if every
    alias were replaced by a copy of its anchor: each distinct node is visited once.
    """
    expanded: dict[int, int] = {}  # id(node) -> its size with aliases expanded; 0: on the path
    distinct = 0
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]  # (node, depth, children done?)
    while stack:
        node, depth, done = stack.pop()
        if depth > limits.max_depth:
            raise YAMLLimitError(f"nesting deeper than {limits.max_depth} levels")
        children = _children(node)
        if not done:
            if id(node) in expanded:  # an alias of a node already counted
                continue
            expanded[id(node)] = 0
            if any(expanded.get(id(child)) == 0 for child in children):
                raise YAMLLimitError("recursive alias: a node contains itself")
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children)
            continue
        distinct += 1
        expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
        if expanded[id(node)] - distinct > limits.max_alias_nodes:
            raise YAMLLimitError(
                "excessive aliasing: aliases expand the document by more than "
                f"{limits.max_alias_nodes} nodes"
            )


def _children(node: Any) -> list[Any]:
    value = getattr(node, "value", None)
    if not isinstance(value, list):
        return []
    if value and isinstance(value[0], tuple):  # a mapping: (key, value) pairs
        return [part for pair in value for part in pair]
    return value
