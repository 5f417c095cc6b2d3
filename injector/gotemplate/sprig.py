"""The Sprig functions Istio's templates (and their users' templates) reach for.

Same names and argument order as Sprig (the piped value comes last: ``x | default "a"``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
from collections.abc import Callable
from typing import Any

import yaml

from injector.gotemplate.builtins import sprint
from injector.gotemplate.errors import FuncError
from injector.gotemplate.values import (
    MISSING,
    Struct,
    go_json,
    go_str,
    is_true,
    to_plain,
    type_name,
)


def empty(value: Any) -> bool:
    return not is_true(value)


def default(fallback: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return fallback
    return given[0]


def coalesce(*values: Any) -> Any:
    for value in values:
        if not empty(value):
            return value
    return None


def ternary(yes: Any, no: Any, cond: Any) -> Any:
    return yes if is_true(cond) else no


def quote(*values: Any) -> str:
    if len(values) == 1 and values[0] is not None:
        return go_json_string(go_str(values[0]))
    return " ".join(go_json_string(go_str(v)) for v in values if v is not None)


def squote(*values: Any) -> str:
    return " ".join(f"'{go_str(v)}'" for v in values if v is not None)


_QUOTED = re.compile(r'["\\\x7f]')


def go_json_string(text: str) -> str:
    """``strconv.Quote``-compatible for printable text (a valid YAML double-quoted scalar)."""
    if text.isprintable() and not _QUOTED.search(text):
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value).strip(), 0) if str(value).strip() else 0
    except ValueError:
        try:
            return int(float(str(value)))
        except ValueError:
            return 0


def to_float(value: Any) -> float:
    try:
        return float(value) if not isinstance(value, str) else float(value.strip() or 0)
    except (TypeError, ValueError):
        return 0.0


def _strs(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [go_str(v) for v in value]
    if value is None or value is MISSING:
        return []
    return [go_str(value)]


def join(sep: str, items: Any) -> str:
    return sep.join(_strs(items))


def split_list(sep: str, text: str) -> list[str]:
    return str(text).split(sep)


def split(sep: str, text: str) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(str(text).split(sep))}


def trim_all(cut: str, text: str) -> str:
    return str(text).strip(cut)


def trunc(count: int, text: str) -> str:
    text = str(text)
    if count < 0:
        return text[count:] if -count < len(text) else text
    return text[:count]


def substr(start: int, end: int, text: str) -> str:
    text = str(text)
    if start < 0:
        return text[:end]
    if end < 0 or end > len(text):
        return text[start:]
    return text[start:end]


def indent(spaces: int, text: str) -> str:
    pad = " " * int(spaces)
    return pad + str(text).replace("\n", "\n" + pad)


def nindent(spaces: int, text: str) -> str:
    return "\n" + indent(spaces, text)


def as_list(*items: Any) -> list[Any]:
    return list(items)


def _list(value: Any, fn: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if value is None or value is MISSING:
        return []
    raise FuncError(f"{fn}: cannot find {fn} on type {type_name(value)}")


def append(items: Any, value: Any) -> list[Any]:
    return [*_list(items, "append"), value]


def prepend(items: Any, value: Any) -> list[Any]:
    return [value, *_list(items, "prepend")]


def first(items: Any) -> Any:
    seq = _list(items, "first")
    return seq[0] if seq else None


def last(items: Any) -> Any:
    seq = _list(items, "last")
    return seq[-1] if seq else None


def uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items, "uniq"):
        if item not in out:
            out.append(item)
    return out


def has(needle: Any, items: Any) -> bool:
    return needle in _list(items, "has")


def without(items: Any, *drop: Any) -> list[Any]:
    return [i for i in _list(items, "without") if i not in drop]


def compact(items: Any) -> list[Any]:
    return [i for i in _list(items, "compact") if not empty(i)]


def concat(*lists: Any) -> list[Any]:
    return [item for seq in lists for item in _list(seq, "concat")]


def dict_(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[go_str(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _map(value: Any, fn: str) -> dict[Any, Any]:
    if isinstance(value, dict):
        return value
    raise FuncError(f"{fn}: expected a map, got {type_name(value)}")


def get(mapping: Any, key: str) -> Any:
    return _map(mapping, "get").get(key, "")


def set_(mapping: Any, key: str, value: Any) -> dict[Any, Any]:
    target = _map(mapping, "set")
    target[key] = value
    return target


def unset(mapping: Any, key: str) -> dict[Any, Any]:
    target = _map(mapping, "unset")
    target.pop(key, None)
    return target


def has_key(mapping: Any, key: str) -> bool:
    return key in _map(mapping, "hasKey")


def keys(*maps: Any) -> list[Any]:
    return [k for m in maps for k in _map(m, "keys")]


def values(mapping: Any) -> list[Any]:
    return list(_map(mapping, "values").values())


def pick(mapping: Any, *names: str) -> dict[Any, Any]:
    source = _map(mapping, "pick")
    return {k: source[k] for k in names if k in source}


def pluck(name: str, *maps: Any) -> list[Any]:
    return [m[name] for m in maps if isinstance(m, dict) and name in m]


def merge(dest: Any, *sources: Any) -> dict[Any, Any]:
    target = _map(dest, "merge")
    for source in sources:
        _deep_merge(target, _map(source, "merge"), overwrite=False)
    return target


def merge_overwrite(dest: Any, *sources: Any) -> dict[Any, Any]:
    target = _map(dest, "mergeOverwrite")
    for source in sources:
        _deep_merge(target, _map(source, "mergeOverwrite"), overwrite=True)
    return target


def _deep_merge(target: dict[Any, Any], source: dict[Any, Any], overwrite: bool) -> None:
    for key, value in source.items():
        if isinstance(target.get(key), dict) and isinstance(value, dict):
            _deep_merge(target[key], value, overwrite)
        elif key not in target or overwrite or empty(target[key]):
            target[key] = copy.deepcopy(value)


def dig(*args: Any) -> Any:
    *path, fallback, mapping = args
    current = mapping
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return fallback
        current = current[key]
    return current


def to_json(value: Any) -> str:
    return go_json(to_plain(value))


def to_pretty_json(value: Any) -> str:
    return go_json(to_plain(value), indent="  ")


class _YamlDumper(yaml.SafeDumper):
    """Writes text with line breaks as a literal block (``|-``), as Go's YAML library does."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_str(text)


_YamlDumper.add_representer(str, _text)


def yaml_text(value: Any) -> str:
    """Block YAML with sorted keys as Go's YAML library writes it, without the final newline."""
    plain = to_plain(value)
    if plain is None:
        return "null"
    text = yaml.dump(
        plain, Dumper=_YamlDumper, default_flow_style=False, sort_keys=True, allow_unicode=True
    )
    return text.removesuffix("\n").removesuffix("\n...")


def regex_match(pattern: str, text: str) -> bool:
    return re.search(pattern, str(text)) is not None


def regex_replace_all(pattern: str, text: str, repl: str) -> str:
    return re.sub(pattern, re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", repl), str(text))


def regex_find(pattern: str, text: str) -> str:
    found = re.search(pattern, str(text))
    return found.group() if found else ""


def kind_of(value: Any) -> str:
    if isinstance(value, Struct):
        return "struct"
    if value is None or value is MISSING:
        return "invalid"
    return {
        bool: "bool",
        int: "int",
        float: "float64",
        str: "string",
        list: "slice",
        dict: "map",
    }.get(type(value), "interface")


def fail(message: str) -> Any:
    raise FuncError(message)


def _num(fn: Callable[[int, int], Any]) -> Callable[..., Any]:
    return lambda a, b: fn(to_int(a), to_int(b))


def _div(a: Any, b: Any) -> int:
    x, y = to_int(a), to_int(b)
    if y == 0:
        raise FuncError("integer divide by zero")
    return int(x / y)


FUNCS: dict[str, Callable[..., Any]] = {
    "default": default,
    "empty": empty,
    "coalesce": coalesce,
    "ternary": ternary,
    "quote": quote,
    "squote": squote,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "trim": lambda s: str(s).strip(),
    "trimAll": trim_all,
    "trimPrefix": lambda p, s: str(s).removeprefix(p),
    "trimSuffix": lambda p, s: str(s).removesuffix(p),
    "hasPrefix": lambda p, s: str(s).startswith(p),
    "hasSuffix": lambda p, s: str(s).endswith(p),
    "replace": lambda old, new, s: str(s).replace(old, new),
    "repeat": lambda count, s: str(s) * int(count),
    "nospace": lambda s: re.sub(r"\s", "", str(s)),
    "trunc": trunc,
    "substr": substr,
    "split": split,
    "splitList": split_list,
    "join": join,
    "cat": lambda *a: " ".join(go_str(x) for x in a if x is not None),
    "toString": lambda v: sprint(v),
    "toStrings": _strs,
    "int": to_int,
    "int64": to_int,
    "atoi": to_int,
    "float64": to_float,
    "add": lambda *a: sum(to_int(x) for x in a),
    "add1": lambda a: to_int(a) + 1,
    "sub": _num(lambda a, b: a - b),
    "mul": lambda *a: math.prod(to_int(x) for x in a),
    "div": _div,
    "mod": _num(lambda a, b: a % b if b else 0),
    "max": lambda *a: max(to_int(x) for x in a),
    "min": lambda *a: min(to_int(x) for x in a),
    "list": as_list,
    "append": append,
    "push": append,
    "prepend": prepend,
    "first": first,
    "last": last,
    "rest": lambda items: _list(items, "rest")[1:],
    "initial": lambda items: _list(items, "initial")[:-1],
    "uniq": uniq,
    "has": has,
    "without": without,
    "compact": compact,
    "concat": concat,
    "sortAlpha": lambda items: sorted(_strs(items)),
    "reverse": lambda items: list(reversed(_list(items, "reverse"))),
    "dict": dict_,
    "get": get,
    "set": set_,
    "unset": unset,
    "hasKey": has_key,
    "keys": keys,
    "values": values,
    "pick": pick,
    "pluck": pluck,
    "merge": merge,
    "mergeOverwrite": merge_overwrite,
    "deepCopy": lambda v: copy.deepcopy(to_plain(v)),
    "dig": dig,
    "toJson": to_json,
    "toRawJson": to_json,
    "toPrettyJson": to_pretty_json,
    "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
    "b64dec": lambda s: base64.b64decode(str(s)).decode(errors="replace"),
    "sha256sum": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
    "regexMatch": regex_match,
    "regexReplaceAll": regex_replace_all,
    "regexFind": regex_find,
    "indent": indent,
    "nindent": nindent,
    "kindOf": kind_of,
    "kindIs": lambda kind, value: kind_of(value) == kind,
    "typeOf": type_name,
    "fail": fail,
}
