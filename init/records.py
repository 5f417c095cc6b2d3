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


_MISSING = object()


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


def _fields(cls: type) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Callable[[], Any]]]:
    """Field names in order, their defaults and their default factories (taken off ``cls``)."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name in names:
        default = cls.__dict__.get(name, _MISSING)
        if isinstance(default, _Factory):
            factories[name] = default.factory
            delattr(cls, name)
        elif default is not _MISSING:
            defaults[name] = default
    return names, defaults, factories


def _make_init(
    qualname: str,
    names: tuple[str, ...],
    defaults: dict[str, Any],
    factories: dict[str, Callable[[], Any]],
) -> Callable[..., None]:
    """``__init__(self, <fields>)`` with the fields' defaults, as dataclasses generates it.

    One closure rather than generated source: compiling a function per class cost about
    0.2 ms each at import, more than all instances of these records take to build.
    """
    count, position = len(names), {name: i for i, name in enumerate(names)}
    store = object.__setattr__
    where = f"{qualname}.__init__()"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(
                f"{where} takes {count + 1} positional arguments but {len(args) + 1} were given"
            )
        values = [*args, *([_MISSING] * (count - len(args)))]
        for key, value in kwargs.items():
            index = position.get(key)
            if index is None:
                raise TypeError(f"{where} got an unexpected keyword argument {key!r}")
            if values[index] is not _MISSING:
                raise TypeError(f"{where} got multiple values for argument {key!r}")
            values[index] = value
        for name, value in zip(names, values, strict=True):
            if value is _MISSING:
                if name in defaults:
                    value = defaults[name]
                elif name in factories:
                    value = factories[name]()
                else:
                    raise TypeError(f"{where} missing 1 required positional argument: {name!r}")
            store(self, name, value)

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _build(cls: type, frozen: bool) -> type:
    names, defaults, factories = _fields(cls)
    init = _make_init(cls.__qualname__, names, defaults, factories)

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
