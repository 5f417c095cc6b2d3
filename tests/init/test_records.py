"""init.records.dataclass behaves as dataclasses.dataclass for what the package uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from init import records


def _pair(frozen: bool) -> tuple[type, type]:
    def define(decorate: Callable[..., Any], field: Callable[..., Any]) -> type:
        class Sample:
            name: str
            port: int = 15001
            tags: list[str] = field(default_factory=list)

        return decorate(frozen=frozen)(Sample)  # type: ignore[no-any-return]

    return define(records.dataclass, records.field), define(
        dataclasses.dataclass, dataclasses.field
    )


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a",), {}),
    (("a", 1), {}),
    (("a", 1, ["x"]), {}),
    ((), {"name": "a", "tags": ["y"]}),
    (("a",), {"port": 2}),
    ((), {}),  # missing name
    (("a", 1, [], 4), {}),  # too many
    (("a",), {"name": "b"}),  # twice
    (("a",), {"nope": 1}),  # unknown
]


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_init_eq_repr_hash_match_dataclasses(
    frozen: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    ours, theirs = _pair(frozen)

    def build(cls: type) -> Any:
        try:
            return cls(*args, **kwargs)
        except TypeError:
            return ("TypeError",)

    mine, real = build(ours), build(theirs)
    if isinstance(real, tuple):
        assert mine == real
        return
    assert repr(mine) == repr(real)
    assert vars(mine) == vars(real)
    assert mine == build(ours) and mine != ours("other")
    if frozen:
        assert hash(ours("a", 1, ())) == hash(theirs("a", 1, ()))
        with pytest.raises(AttributeError):
            mine.port = 1
    else:
        with pytest.raises(TypeError):
            hash(mine)


def test_default_factory_gives_each_instance_its_own() -> None:
    ours, _ = _pair(False)
    first, second = ours("a"), ours("b")
    first.tags.append("x")
    assert second.tags == []
