"""YAML in the injector: which parser reads what, and PyYAML loading within bounds.

Three parsers, each for one kind of text:

- **PyYAML** (libyaml's C parser) reads what users and operators write: the config documents
  (``config``, ``values``, ``mesh``) and YAML-valued annotations (``proxy.istio.io/config``)
  through ``load`` below, and the manifests of ``injector inject``/``check``
  (``injector.manifests`` composes them with ``Loader``: the node graph gives the positions of
  in-place edits and bounds aliases before anything is built). ``Loader`` resolves plain
  scalars as Kubernetes does (kubectl, the API server and Istio read YAML with go-yaml v2),
  not as YAML 1.1 or 1.2 would: a value in a manifest means to ``injector inject`` what it
  means to ``kubectl apply``, and a value in the mesh config what it means to Istio.
- **yaml-rs** (YAML 1.2 core schema) reads what a template renders (``injector.template``):
  it is on the hot path, where it is ten times faster than PyYAML. A Jinja template inserts
  every value as a JSON literal, which means the same to every reader, so the schema only
  applies to a template's own literal text: there ``on``, ``yes`` and ``y`` stay strings and
  ``012`` is decimal (write ``true``/``false`` for booleans and quote strings like ``'on'``,
  and every reader agrees).
- **ruamel.yaml** (YAML 1.2, round trip) re-emits a manifest whose workload shares nodes
  through aliases (``injector.roundtrip``), keeping comments, key order and quotes.

The meanings, pinned by ``tests/injector/test_yaml_meaning.py`` (the first column also by a
real API server, ``tests/cluster/test_yaml_meaning.py``):

=================  =================================  ========================
plain text         config, annotations, manifests     template literal text
                   (``Loader``, as Kubernetes)        (yaml-rs, YAML 1.2)
=================  =================================  ========================
on, yes, Off, no   boolean                            string
y, N               boolean                            string
012                10 (octal)                         12
0x1F, 0o12, 0b11   31, 10, 3                          31, 10, 3
1_000, 1e3, -.5    1000, 1000.0, -0.5                 1000, 1000.0, -0.5
1:20, 2020-01-01   string (not 80, not a date)        string
=, ~               string, null                       string, null
=================  =================================  ========================

What the injector writes does not depend on the reader: ``injector.yamltext`` (in-place
edits) and ``injector.roundtrip`` quote every string that any of these readers would take for
something else (``'on'``, ``'n'``, ``'012'``, ``'1e3'``), and the webhook answers in JSON.

Loading within bounds
---------------------

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

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when built with it

_INT64 = range(-(2**63), 2**64)  # go-yaml's ParseInt, then ParseUint
_FLOAT = r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
_RESOLVERS = (  # tag, plain scalars of that type, their possible first characters
    (
        "bool",
        r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
        list("yYnNtTfFoO"),
    ),
    ("int", r"[-+]?(?:0[xXoObB][0-9a-fA-F_]+|[0-9][0-9_]*)", list("-+0123456789")),
    ("float", rf"{_FLOAT}|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", list("-+0123456789.")),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", ["<"]),
)


class Loader(_Base):
    """PyYAML's safe loader, resolving plain scalars the way Kubernetes' go-yaml v2 does.

    YAML 1.1's booleans and ``y``/``n``; Go's integers (``0x1F``, ``0o17``, ``0b11``, ``012``
    octal, ``_`` separators); floats, ``.inf``/``.nan``; null; ``<<`` merges. Timestamps and
    sexagesimal numbers (``1:20``) stay strings, as does ``=``.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}
    bool_values = {**_Base.bool_values, "y": True, "n": False}


def _construct_int(loader: Loader, node: yaml.ScalarNode) -> int | float | str:
    """A plain integer as Go's ``strconv.ParseInt(text, 0, 64)`` reads it, else as go-yaml
    falls back: a float when it looks like one (``09``, out of range), else the string."""
    text = str(loader.construct_scalar(node))
    plain = text.replace("_", "")
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    bases = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
    base = bases.get(digits[:2], 8 if len(digits) > 1 and digits[0] == "0" else 10)
    digits = digits[2:] if digits[:2] in bases else digits
    try:
        value = sign * int(digits, base)
    except ValueError:
        value = None
    if value is not None and value in _INT64:
        return value
    return float(plain) if re.fullmatch(_FLOAT, plain) else text


for _tag, _pattern, _first in _RESOLVERS:
    Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), _first
    )
Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


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
    loader = Loader(text)
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


def duplicate_key(root: Any) -> tuple[Any, Any] | None:
    """The first mapping key of ``root``'s graph that repeats one before it in its mapping, as
    ``(repeat, first)`` key nodes; ``None`` if there is none. A repeated merge key (``<<``)
    counts too (one ``<<`` takes a list of mappings).

    PyYAML keeps the last value of a repeated key, kubectl and ruamel refuse the document, and
    an edit made to one of the two would be read from the other.
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            firsts: dict[tuple[str, str], Any] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    first = firsts.setdefault((key.tag, key.value), key)
                    if first is not key:
                        return key, first
        stack.extend(reversed(_children(node)))  # popped in document order
    return None
