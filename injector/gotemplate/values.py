"""How Go sees our data: maps, string maps, Go-named struct views, printing and truth.

- a ``dict`` is a ``map[string]interface{}``: a missing key is ``MISSING`` (Go's invalid
  value, printed ``<no value>``), and a field of ``MISSING`` is ``MISSING`` again;
- a ``StrMap`` is a ``map[string]string`` (labels, annotations): a missing key is ``""``;
- a ``Struct`` is a Go struct over a JSON object: field ``Name`` reads key ``name``; a
  struct with a known field list rejects unknown fields by name, an absent field is the
  zero value of its type; ``GetName`` reads like ``Name`` (protobuf getters).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from injector.gotemplate.errors import FuncError


class _Missing:
    """Go's invalid ``reflect.Value``: a missing map key."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class StrMap(dict[str, str]):
    """A ``map[string]string``."""

    go_type = "map[string]string"


class Schema:
    """A Go struct type: its name and fields (Go name -> JSON key, kind of zero value).

    ``open``: the listed fields are the ones whose zero value matters (protobuf messages
    with dozens of fields); any other field reads like a field of a loose struct.
    """

    def __init__(
        self,
        name: str,
        fields: Mapping[str, tuple[str, Any]] | None = None,
        proto: bool = False,
        open: bool = False,
    ) -> None:
        self.name = name
        self.fields = dict(fields) if fields is not None else None
        self.proto = proto
        self.open = open


class Struct:
    """A Go struct (or protobuf message) over a JSON object.

    A field's value is made once and kept: like a Go struct's, it is the same map or list
    however often a template reads it (and whatever the template changes in it stays).
    """

    __slots__ = ("schema", "data", "_read")

    def __init__(self, schema: Schema, data: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self.data = data or {}
        self._read: dict[str, Any] = {}

    def field(self, name: str) -> Any:
        try:
            return self._read[name]
        except KeyError:
            value = self._read[name] = self._field(name)
            return value

    def _field(self, name: str) -> Any:
        fields = self.schema.fields
        lookup = name
        if fields is not None:
            if name not in fields and name.startswith("Get") and name[3:] in fields:
                lookup = name[3:]
            if lookup in fields:
                key, zero = fields[lookup]
                return wrap(zero, self.data.get(key))
            if not self.schema.open:
                raise FuncError(f"can't evaluate field {name} in type {self.schema.name}")
            lookup = name
        if name.startswith("Get") and len(name) > 3 and name[3].isupper():
            lookup = name[3:]
        key = lookup[0].lower() + lookup[1:]
        if key in self.data:
            return loose(self.data[key])
        return None

    @property
    def is_loose(self) -> bool:
        """A struct whose fields we do not list (protobuf messages, nested Kubernetes types):
        it also indexes, ranges and prints like the map it was decoded from."""
        return self.schema.fields is None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Struct) and other.data == self.data

    def __hash__(self) -> int:
        return id(self)


def wrap(kind: Any, value: Any) -> Any:
    """The Go value of a struct field of ``kind`` holding JSON ``value`` (None: absent)."""
    if isinstance(kind, Schema):
        if value is None:
            return None if kind.proto else Struct(kind, {})
        return Struct(kind, value)
    if isinstance(kind, tuple):  # ("list", element kind)
        if value is None:
            return []
        return [wrap(kind[1], item) for item in value]
    if kind == "loose":
        return loose(value)
    if kind == "strmap":
        return StrMap(value) if value is not None else StrMap()
    if isinstance(kind, str) and kind.startswith("enum."):  # a protobuf enum: its name
        return kind[5:] if value is None else value
    if value is None:
        return {"str": "", "int": 0, "bool": False, "map": {}, "list": []}.get(kind)
    return value


LOOSE = Schema("struct", None, proto=True)


def loose(value: Any) -> Any:
    """A JSON value read through a struct we know no fields of: objects stay structs."""
    if isinstance(value, dict):
        return Struct(LOOSE, value)
    if isinstance(value, list):
        return [loose(v) for v in value]
    return value


def is_true(value: Any) -> bool:
    """Go's truth: false, 0, nil, empty string/slice/map are false; a struct is true."""
    if isinstance(value, Struct):
        return bool(value.data) if value.is_loose else True
    if value is None or value is MISSING:
        return False
    return bool(value)


def go_str(value: Any) -> str:
    """``fmt.Sprint(value)``."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v)}" for k, v in items) + "]"
    if isinstance(value, Struct):
        if value.is_loose or value.schema.open:
            return go_str(value.data)
        return "{" + " ".join(go_str(value.field(f)) for f in value.schema.fields or ()) + "}"
    return str(value)


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int | float) else (1, str(key))


def format_float(value: float) -> str:
    """Go's ``%v`` for a float64: the shortest digits, exponent form below 1e-4 or from 1e6."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exp10 = len("".join(map(str, digit_tuple))) + exponent - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{head}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 < 0:
        return f"{prefix}0.{'0' * (-exp10 - 1)}{digits}"
    whole, frac = digits[: exp10 + 1], digits[exp10 + 1 :]
    return prefix + whole.ljust(exp10 + 1, "0") + ("." + frac if frac else "")


def to_plain(value: Any) -> Any:
    """JSON-ready data (struct views become their objects)."""
    if isinstance(value, Struct):
        return {k: to_plain(v) for k, v in value.data.items()}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if value is MISSING:
        return None
    return value


def go_json(value: Any, indent: str | None = None) -> str:
    """``json.Marshal``: sorted map keys, compact, ``<>&`` escaped as Go does."""
    text = json.dumps(
        _marshal_order(value),
        separators=(",", ":") if indent is None else (",", ": "),
        indent=indent,
        ensure_ascii=False,
    )
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _marshal_order(value: Any) -> Any:
    """Maps sort their keys; structs keep their field order and omit empty fields."""
    if isinstance(value, Struct):
        fields = value.schema.fields
        if fields is None or value.schema.open:
            return {k: _marshal_order(v) for k, v in value.data.items()}
        out = {}
        for _, (key, _kind) in fields.items():
            item = value.data.get(key)
            if item not in (None, "", 0, False, [], {}):
                out[key] = _marshal_order(item)
        return out
    if isinstance(value, dict):
        return {str(k): _marshal_order(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_marshal_order(v) for v in value]
    if value is MISSING:
        return None
    return value


def type_name(value: Any) -> str:
    """The Go type a value stands for (for messages and ``typeOf``)."""
    if isinstance(value, Struct):
        return value.schema.name
    if isinstance(value, StrMap):
        return "map[string]string"
    if value is None or value is MISSING:
        return "<nil>"
    return {
        bool: "bool",
        int: "int",
        float: "float64",
        str: "string",
        dict: "map[string]interface {}",
        list: "[]interface {}",
    }.get(type(value), type(value).__name__)
