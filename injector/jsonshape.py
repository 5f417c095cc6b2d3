"""Is a value plain JSON we can serialise? If not, which field is the problem.

Injection serialises what users give it (the pod, ``proxy.istio.io/config``) with orjson,
which refuses nesting deeper than 255 levels, integers outside 64 bits, keys that are not
strings and values that are not JSON (YAML's ``!!binary`` or ``!!set``). Failing there would
be an internal error; ``problem`` finds the field first, so the pod is denied naming it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

MAX_DEPTH = 128  # well inside orjson's limit, far beyond any real pod (about 15)
_INT_RANGE = range(-(2**63), 2**64)
_SCALARS = (str, bool, float, type(None), dt.date, dt.datetime)


def problem(value: Any, where: str, max_depth: int = MAX_DEPTH) -> str | None:
    """``None`` if ``value`` is plain JSON no deeper than ``max_depth``, else the first
    offending field as ``"<where>.path: what is wrong"``."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            return f"{shorten(path)}: nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"{path}: key {key!r} is not a string"
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            if item not in _INT_RANGE:
                return f"{path}: integer {item} is out of range"
        elif not isinstance(item, _SCALARS):
            return f"{path}: a {type(item).__name__} is not a JSON value"
    return None


def shorten(path: str) -> str:
    """``path`` cut in the middle when long, for one-line messages."""
    return path if len(path) <= 100 else path[:60] + "..." + path[-37:]


def serialisable(value: Any) -> bool:
    """The cheap test: orjson can serialise it (a few µs per KiB, in C)."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True
