"""Istio's own template functions, laid over Sprig's (``contains`` and ``indent`` differ).

Behaviour as Istio's injector defines it: ``annotation`` prints its default with
``fmt.Sprint``, ``indent`` pads every line but the first, ``contains`` takes the haystack
first, ``toJSON`` of a nil map is ``{}``, ``toYaml`` ends with a newline, ``directory``
keeps the final slash, ``fromJSON`` of bad JSON is the text ``{}``, the port lists skip UDP
and SCTP ports.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from injector import mesh
from injector.gotemplate.errors import FuncError
from injector.gotemplate.sprig import yaml_text
from injector.gotemplate.values import MISSING, StrMap, Struct, go_json, go_str, to_plain

logger = logging.getLogger(__name__)
_DURATION = re.compile(r"^(-?)(\d+(?:\.\d*)?|\.\d+)s$")


def _annotations(meta: Any) -> Mapping[str, str]:
    if isinstance(meta, Struct):
        found = meta.field("Annotations")
        return found if isinstance(found, dict) else {}
    if isinstance(meta, dict):
        return meta.get("annotations") or {}
    raise FuncError(f"annotation: expected ObjectMeta, got {go_str(meta)}")


def annotation(meta: Any, name: str, fallback: Any) -> str:
    annotations = _annotations(meta)
    if name in annotations:
        return str(annotations[name])
    return go_str(fallback)


def isset(mapping: Any, key: str) -> bool:
    if isinstance(mapping, Struct) and mapping.is_loose:
        mapping = mapping.data
    return isinstance(mapping, dict) and key in mapping


def value_or_default(value: Any, fallback: Any) -> Any:
    if value is None or value is MISSING or value == "":
        return fallback
    return value


def to_json_map_string(mapping: Any) -> str:
    """``toJSON``: a string map as JSON, ``{}`` for nil."""
    if mapping is None or mapping is MISSING:
        return "{}"
    return go_json(to_plain(mapping))


def from_json(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except ValueError as exc:
        logger.warning("fromJSON: invalid JSON %r: %s", text, exc)
        return "{}"  # Istio's answer: the text ``{}`` (ranging over it fails, naming it)


def struct_to_json(value: Any) -> str:
    return go_json(value)


def proto_to_json(value: Any) -> str:
    """A ProxyConfig as its JSON, without the fields the injector fills in itself."""
    plain = to_plain(value)
    if not isinstance(plain, dict):
        return "{}"
    return orjson.dumps(mesh.clean_proxy_config(plain)).decode()


def istio_indent(spaces: int, text: str) -> str:
    pad = " " * int(spaces)
    return str(text).replace("\n", "\n" + pad)


def contains(haystack: Any, needle: Any) -> bool:
    return go_str(needle) in go_str(haystack)


def _ports(containers: Any, skip_proxy: bool) -> str:
    parts = []
    for container in containers or []:
        data = container.data if isinstance(container, Struct) else container
        if not isinstance(data, dict) or (skip_proxy and data.get("name") == "istio-proxy"):
            continue
        for port in data.get("ports") or []:
            if not isinstance(port, dict) or port.get("protocol") in ("UDP", "SCTP"):
                continue
            parts.append(str(port.get("containerPort") or 0))
    return ",".join(parts)


def directory(path: Any) -> str:
    """Go's ``path.Split``: everything up to the last slash, the slash kept."""
    text = go_str(path)
    return text[: text.rfind("/") + 1]


def to_yaml(value: Any) -> str:
    """Istio's ``toYaml``: Go's YAML of ``value`` with its final newline (Helm drops it)."""
    return yaml_text(value) + "\n"


def exclude_inbound_port(port: Any, excluded: Any) -> str:
    text = go_str(port).strip()
    if not text or text == "0":
        return go_str(excluded)
    ports = [p.strip() for p in go_str(excluded).split(",") if p.strip()]
    return go_str(excluded) if text in ports else ",".join([*ports, text])


def append_multus_network(current: Any, network: Any) -> str:
    # Imported here: ``injector.context`` imports the config, which compiles templates.
    from injector.context import append_multus_network as append

    return append(go_str(current), go_str(network))


def format_duration(value: Any) -> str:
    """A protobuf Duration (JSON ``"1.5s"``) as Go's ``time.Duration.String`` writes it."""
    if value is None or value is MISSING:
        return "0s"
    match = _DURATION.match(go_str(value).strip())
    if not match:
        raise FuncError(f"formatDuration: not a duration: {go_str(value)!r}")
    sign, number = match.groups()
    nanos = round(float(number) * 1e9)
    return sign + _go_duration(nanos) if nanos else "0s"


def _go_duration(nanos: int) -> str:
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return _trim(nanos / 1_000) + "µs"
    if nanos < 1_000_000_000:
        return _trim(nanos / 1_000_000) + "ms"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(rest / 1e9) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def _trim(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


def omit(mapping: Any, *names: str) -> dict[Any, Any]:
    if not isinstance(mapping, dict):
        raise FuncError(f"omit: expected a map, got {go_str(mapping)}")
    return {k: v for k, v in mapping.items() if k not in names}


def omit_nil(mapping: Any) -> dict[Any, Any]:
    if not isinstance(mapping, dict):
        raise FuncError(f"omitNil: expected a map, got {go_str(mapping)}")
    return {k: v for k, v in mapping.items() if v is not None}


def strdict(*pairs: Any) -> StrMap:
    out = StrMap()
    for i in range(0, len(pairs) - 1, 2):
        out[go_str(pairs[i])] = go_str(pairs[i + 1])
    return out


def merge_maps(*maps: Any) -> StrMap:
    out = StrMap()
    for mapping in maps:
        if isinstance(mapping, dict):
            out.update({str(k): go_str(v) for k, v in mapping.items()})
    return out


def to_json_map(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mapping in maps:
        if isinstance(mapping, dict):
            out.update(mapping)
    return out


def env(name: str, fallback: str) -> str:
    return os.environ.get(name, fallback)


FUNCS: dict[str, Callable[..., Any]] = {
    "annotation": annotation,
    "isset": isset,
    "valueOrDefault": value_or_default,
    "toJSON": to_json_map_string,
    "fromJSON": from_json,
    "structToJSON": struct_to_json,
    "protoToJSON": proto_to_json,
    "toYaml": to_yaml,
    "indent": istio_indent,
    "directory": directory,
    "contains": contains,
    "toLower": lambda text: go_str(text).lower(),
    "excludeInboundPort": exclude_inbound_port,
    "includeInboundPorts": lambda containers: _ports(containers, skip_proxy=False),
    "applicationPorts": lambda containers: _ports(containers, skip_proxy=True),
    "kubevirtInterfaces": lambda text: go_str(text),
    "excludeInterfaces": lambda text: go_str(text),
    "appendMultusNetwork": append_multus_network,
    "formatDuration": format_duration,
    "env": env,
    "omit": omit,
    "omitNil": omit_nil,
    "strdict": strdict,
    "mergeMaps": merge_maps,
    "toJsonMap": to_json_map,
}
