"""Go text/template's predefined functions (``and``/``or`` are short-circuited by ``codegen``)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from injector.gotemplate.errors import FuncError
from injector.gotemplate.values import MISSING, StrMap, Struct, go_str, is_true, type_name

_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])")


def _basic(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None or value is MISSING:
        return "nil"
    return "other"


def eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    kind = _basic(first)
    for other in others:
        other_kind = _basic(other)
        if kind == "nil" or other_kind == "nil":
            if kind == other_kind:
                return True
            continue
        if kind == "other" or other_kind == "other":
            raise FuncError(f"non-comparable type {type_name(first)}: {go_str(first)}")
        if kind != other_kind:
            raise FuncError("incompatible types for comparison")
        if first == other:
            return True
    return False


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _order(a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _basic(a), _basic(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise FuncError(f"invalid type for comparison: {type_name(a)}")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return a, b


def lt(a: Any, b: Any) -> bool:
    x, y = _order(a, b)
    return bool(x < y)


def le(a: Any, b: Any) -> bool:
    x, y = _order(a, b)
    return bool(x <= y)


def gt(a: Any, b: Any) -> bool:
    x, y = _order(a, b)
    return bool(x > y)


def ge(a: Any, b: Any) -> bool:
    x, y = _order(a, b)
    return bool(x >= y)


def not_(value: Any) -> bool:
    return not is_true(value)


def index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Struct) and item.is_loose:
            item = item.data
        if isinstance(item, dict):
            item = item.get(key, "" if isinstance(item, StrMap) else MISSING)
        elif isinstance(item, list | tuple | str):
            if isinstance(key, bool) or not isinstance(key, int):
                raise FuncError(f"cannot index slice/array with type {type_name(key)}")
            if not 0 <= key < len(item):
                raise FuncError(f"index out of range: {key}")
            item = item[key]
        elif isinstance(item, Struct):
            raise FuncError(f"can't index item of type {item.schema.name}")
        elif item is None or item is MISSING:
            return MISSING  # a nil map: every key is missing
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: Any, *bounds: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    if len(bounds) > 3 or (len(bounds) == 3 and isinstance(item, str)):
        raise FuncError("too many slice indexes")
    idx = [int(b) for b in bounds]
    start = idx[0] if idx else 0
    stop = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= start <= stop <= len(item):
        raise FuncError(f"index out of range: {start}:{stop}")
    return item[start:stop]


def length(item: Any) -> int:
    if isinstance(item, Struct) and item.is_loose:
        item = item.data
    if isinstance(item, str | list | tuple | dict):
        return len(item)
    raise FuncError(f"len of type {type_name(item)}")


def sprint(*args: Any) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    return " ".join(go_str(a) for a in args) + "\n"


def sprintf(fmt: str, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use: %v %s %d %q %t %x %X %o %f %e %g %%."""
    values = list(args)
    used = 0

    def verb(match: re.Match[str]) -> str:
        nonlocal used
        flags, width, prec, kind = match.groups()
        if kind == "%":
            return "%"
        if used >= len(values):
            return f"%!{kind}(MISSING)"
        value = values[used]
        used += 1
        return _format(value, flags, width, prec, kind)

    text = _VERB.sub(verb, fmt)
    if used < len(values):
        extra = ", ".join(f"{type_name(v)}={go_str(v)}" for v in values[used:])
        text += f"%!(EXTRA {extra})"
    return text


def _format(value: Any, flags: str, width: str | None, prec: str | None, kind: str) -> str:
    spec = flags.replace("#", "") + (width or "") + (f".{prec}" if prec is not None else "")
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind in "vs" or (kind in "dxXo" and not is_int and not isinstance(value, str)):
        if kind in "dxXo":
            return f"%!{kind}({type_name(value)}={go_str(value)})"
        text = go_str(value)
        return format(text, _str_spec(flags, width, prec))
    if kind == "q":
        return format(json.dumps(go_str(value), ensure_ascii=False), _str_spec(flags, width, None))
    if kind == "t":
        if not isinstance(value, bool):
            return f"%!t({type_name(value)}={go_str(value)})"
        return format(go_str(value), _str_spec(flags, width, None))
    if kind in "dxXo" and is_int:
        return format(value, spec + kind.replace("d", "d"))
    if kind in "xX" and isinstance(value, str):
        return value.encode().hex() if kind == "x" else value.encode().hex().upper()
    if kind in "feEgG" and isinstance(value, int | float) and not isinstance(value, bool):
        return format(float(value), spec + kind)
    return f"%!{kind}({type_name(value)}={go_str(value)})"


def _str_spec(flags: str, width: str | None, prec: str | None) -> str:
    align = "<" if "-" in flags else ">"
    return (f"{align}{width}" if width else "") + (f".{prec}" if prec is not None else "")


def html(*args: Any) -> str:
    text = sprint(*args)
    for old, new in (("&", "&amp;"), ("'", "&#39;"), ('"', "&#34;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(old, new)
    return text.replace("\x00", "\ufffd")


def js(*args: Any) -> str:
    out = []
    for ch in sprint(*args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=`" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(sprint(*args), safe="")


def _never(_first: Any, *_rest: Any) -> Any:  # the generated code short-circuits these itself
    raise AssertionError("and/or are evaluated by the executor")


FUNCS: dict[str, Callable[..., Any]] = {
    "and": _never,
    "or": _never,
    "not": not_,
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "index": index,
    "slice": slice_,
    "len": length,
    "print": sprint,
    "printf": sprintf,
    "println": sprintln,
    "html": html,
    "js": js,
    "urlquery": urlquery,
}
