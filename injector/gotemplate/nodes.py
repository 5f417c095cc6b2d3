"""The parse tree of a Go template. Every node keeps ``pos``, its offset in the source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


# ----- operands -----


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: string, number, bool or nil (``value`` is the Python value)."""

    value: Any
    text: str


@dataclass(frozen=True, slots=True)
class Dot(Node):
    pass


@dataclass(frozen=True, slots=True)
class Field(Node):
    """``.A.B``: a field chain on dot."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable(Node):
    """``$x.A.B`` (``names`` empty for a bare variable)."""

    var: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identifier(Node):
    """A function name."""

    name: str


@dataclass(frozen=True, slots=True)
class Chain(Node):
    """``(pipeline).A.B``."""

    node: Node
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command(Node):
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Pipeline(Node):
    decl: tuple[str, ...]
    assign: bool  # ``=`` rather than ``:=``
    cmds: tuple[Command, ...]
    text: str = ""


# ----- structure -----


@dataclass(frozen=True, slots=True)
class Text(Node):
    text: str


@dataclass(frozen=True, slots=True)
class Action(Node):
    pipe: Pipeline


@dataclass(frozen=True, slots=True)
class Branch(Node):
    """``if``, ``range`` or ``with`` (``kind``), with the ``else`` part."""

    kind: str
    pipe: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateCall(Node):
    name: str
    pipe: Pipeline | None


@dataclass(frozen=True, slots=True)
class LoopControl(Node):
    kind: str  # "break" or "continue"


@dataclass
class Tree:
    """A parsed template: its body and the templates it defines (``define``/``block``)."""

    name: str
    text: str
    body: tuple[Node, ...]
    defines: dict[str, tuple[Node, ...]] = field(default_factory=dict)
