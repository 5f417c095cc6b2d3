"""A lean runtime stand-in for ``dataclasses.dataclass``, for start-up time.

Importing :mod:`dataclasses` pulls in :mod:`inspect` (and with it ``ast``, ``dis``,
``tokenize``) and decorating a class compiles half a dozen generated methods: together
several milliseconds of the init program's start. Modules write::

    if TYPE_CHECKING:
        from dataclasses import dataclass, field
    else:
        from init.records import dataclass, field

so type checkers see the real decorator, while at run time this one builds the same
``__init__`` (positional or keyword, defaults, ``default_factory``), ``__eq__``, ``__repr__``
and, for frozen classes, ``__hash__`` and read-only attributes. Only what the package uses
is supported: no ``ClassVar``/``InitVar``, inheritance, ``order`` or ``__post_init__``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


class _Factory:
    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory


def field(*, default_factory: Callable[[], Any]) -> Any:
    """``dataclasses.field(default_factory=...)``: a fresh default per instance."""
    return _Factory(default_factory)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _build(cls: type, frozen: bool) -> type:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    namespace: dict[str, Any] = {"_set": object.__setattr__}
    params, body = [], []
    for name in names:
        default = cls.__dict__.get(name, _build)
        if isinstance(default, _Factory):
            namespace[f"_f_{name}"] = default.factory
            params.append(f"{name}=_build")
            value = f"_f_{name}() if {name} is _build else {name}"
            delattr(cls, name)
        elif default is not _build:
            namespace[f"_d_{name}"] = default
            params.append(f"{name}=_d_{name}")
            value = name
        else:
            params.append(name)
            value = name
        body.append(f"_set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
    namespace["_build"] = _build
    source = f"def __init__(self, {', '.join(params)}):\n " + "\n ".join(body or ["pass"])
    exec(source, namespace)  # one small function per class, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{cls.__qualname__}({inner})"

    cls.__init__ = init  # type: ignore[misc]
    cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    cls.__repr__ = __repr__  # type: ignore[method-assign,assignment]
    setattr(cls, "__match_args__", names)  # noqa: B010
    if frozen:

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in names))

        cls.__hash__ = __hash__  # type: ignore[method-assign,assignment]
        cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign,assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign,assignment]
    else:
        cls.__hash__ = None  # type: ignore[assignment]
    return cls


def dataclass(cls: type | None = None, /, *, frozen: bool = False) -> Any:
    """``@dataclass`` or ``@dataclass(frozen=True)``; see the module docstring."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)
