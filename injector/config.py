"""The injector's configuration: Istio's ``config`` + ``values`` + mesh config, loaded once.

``InjectorConfig`` is immutable; a reload builds a new one (and a broken reload keeps the
old). Templates are compiled at load time, so a template syntax error is a ``ConfigError``
at load, never a denied pod.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from injector import documents, selectors, template
from injector import mesh as mesh_mod
from injector import values as values_mod
from injector.errors import ConfigError

IGNORED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)
BUILTIN_TEMPLATES = ("sidecar", "gateway", "grpc-agent", "grpc-simple")
_CONFIG_KEYS = frozenset(
    {
        "policy",
        "nativeSidecars",
        "defaultTemplates",
        "templates",
        "aliases",
        "neverInjectSelector",
        "alwaysInjectSelector",
        "injectedAnnotations",
        "template",
    }
)


@dataclass(frozen=True)
class InjectorConfig:
    """Everything injection depends on, besides the pod and the request."""

    policy: str = "enabled"
    native_sidecars: bool = True
    default_templates: tuple[str, ...] = ("sidecar",)
    templates: Mapping[str, template.Compiled] = field(default_factory=dict)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    never_inject_selector: tuple[Mapping[str, Any], ...] = ()
    always_inject_selector: tuple[Mapping[str, Any], ...] = ()
    injected_annotations: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=values_mod.default_values)
    mesh: Mapping[str, Any] = field(default_factory=mesh_mod.default_mesh)
    ignored_namespaces: frozenset[str] = IGNORED_NAMESPACES
    warnings: tuple[str, ...] = ()
    # A hash of the config's content (templates, documents, native sidecars): the same text
    # gives the same hash; part of every render-cache key.
    content_hash: str = ""


def builtin_template_sources() -> dict[str, str]:
    data = resources.files("injector").joinpath("data")
    return {name: data.joinpath(f"{name}.yaml.j2").read_text() for name in BUILTIN_TEMPLATES}


def load_config(
    config_text: str | None = None,
    values_text: str | None = None,
    mesh_text: str | None = None,
    *,
    templates: Mapping[str, str] | None = None,
    native_sidecars: bool | None = None,
    sources: tuple[str, str, str] = ("config", "values", "mesh"),
) -> InjectorConfig:
    """Build a config from the three documents (``None``: our default for that part).

    Templates, by name, later ones replacing earlier: the built-ins, the values'
    ``sidecarInjectorWebhook.templates``, ``templates`` (template files of a config
    directory), the config document's ``templates``.
    """
    doc = _parse_config_doc(config_text, sources[0])
    if values_text is None:
        values, warnings = values_mod.default_values(), list[str]()
    else:
        values, warnings = values_mod.load_values(values_text, sources[1])
    mesh = _mesh(mesh_text, values, sources)
    webhook_values = values["sidecarInjectorWebhook"]
    template_sources = builtin_template_sources()
    template_sources.update(_string_map(webhook_values.get("templates") or {}, "values templates"))
    template_sources.update(templates or {})
    template_sources.update(_string_map(doc.get("templates") or {}, f"{sources[0]}: templates"))
    compiled = {
        name: template.compile_template(name, text) for name, text in template_sources.items()
    }
    never = _list(
        doc.get("neverInjectSelector") or webhook_values["neverInjectSelector"],
        "neverInjectSelector",
    )
    always = _list(
        doc.get("alwaysInjectSelector") or webhook_values["alwaysInjectSelector"],
        "alwaysInjectSelector",
    )
    for i, sel in enumerate(never):
        selectors.validate(sel, f"neverInjectSelector[{i}]")
    for i, sel in enumerate(always):
        selectors.validate(sel, f"alwaysInjectSelector[{i}]")
    defaults = tuple(
        doc.get("defaultTemplates") or webhook_values["defaultTemplates"] or ("sidecar",)
    )
    aliases = {
        k: tuple(_list(v, f"aliases.{k}")) for k, v in _map(doc.get("aliases"), "aliases").items()
    }
    config = InjectorConfig(
        policy=str(doc.get("policy") or values["global"]["proxy"]["autoInject"]),
        native_sidecars=_native(native_sidecars, doc, values),
        default_templates=defaults,
        templates=compiled,
        aliases=aliases,
        never_inject_selector=never,
        always_inject_selector=always,
        injected_annotations=_string_values(
            doc.get("injectedAnnotations") or webhook_values["injectedAnnotations"],
            "injectedAnnotations",
        ),
        values=values,
        mesh=mesh,
        warnings=tuple(warnings),
    )
    _check_template_names(config)
    digest = hashlib.sha256(
        orjson.dumps([template_sources, doc, values, mesh, config.native_sidecars], default=str)
    ).hexdigest()[:16]
    return replace(config, content_hash=digest)


def load_config_files(
    config_path: Path | None = None,
    values_path: Path | None = None,
    mesh_path: Path | None = None,
    *,
    native_sidecars: bool | None = None,
) -> InjectorConfig:
    """``load_config`` from files; a file that cannot be read is a ``ConfigError``."""
    return load_config(
        read_document(config_path),
        read_document(values_path),
        read_document(mesh_path),
        native_sidecars=native_sidecars,
        sources=(
            str(config_path or "config"),
            str(values_path or "values"),
            str(mesh_path or "mesh"),
        ),
    )


def default_config() -> InjectorConfig:
    return load_config()


MAX_FILE_BYTES = 1024 * 1024  # a whole ConfigMap is at most 1 MiB


def read_document(path: Path | None, *, missing_ok: bool = False) -> str | None:
    """A config file's text (``None`` for no path, or a missing file with ``missing_ok``).

    ``ConfigError`` (naming the file) if it cannot be read, is over ``MAX_FILE_BYTES`` or is
    not UTF-8.
    """
    if path is None:
        return None
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(f"cannot read {path}: No such file or directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
            f"line {line})"
        ) from None


def _parse_config_doc(text: str | None, source: str) -> dict[str, Any]:
    if text is None:
        text = resources.files("injector").joinpath("data/config.yaml").read_text()
    doc = documents.load_mapping(text, source, "the injector config")
    unknown = sorted(set(doc) - _CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown keys: {', '.join(unknown)}")
    if doc.get("policy") not in (None, "enabled", "disabled"):
        raise ConfigError(
            f"{source}: policy must be 'enabled' or 'disabled', got {doc['policy']!r}"
        )
    return dict(doc)


def _mesh(
    text: str | None, values: Mapping[str, Any], sources: tuple[str, str, str]
) -> dict[str, Any]:
    """The mesh document if there is one, else the values' ``meshConfig`` (Istio's Helm
    values carry the mesh there), else our defaults."""
    if text is not None:
        return mesh_mod.load_mesh(text, sources[2])
    if values.get("meshConfig"):
        return mesh_mod.mesh_from_mapping(values["meshConfig"], f"{sources[1]}: meshConfig")
    return mesh_mod.default_mesh()


def _list(raw: Any, where: str) -> tuple[Any, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ConfigError(f"{where}: expected a list, got {raw!r}")
    return tuple(raw)


def _map(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
    return raw


def _string_values(raw: Any, where: str) -> dict[str, str]:
    values = _map(raw, where)
    if not all(isinstance(v, str) for v in values.values()):
        raise ConfigError(f"{where}: expected a mapping of strings")
    return dict(values)


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f"{where}: expected a mapping of template name to template text")
    return {str(k): v for k, v in raw.items()}


def _native(override: bool | None, doc: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    if override is not None:
        return override
    if isinstance(doc.get("nativeSidecars"), bool):
        return bool(doc["nativeSidecars"])
    env = str(values["pilot"]["env"].get("ENABLE_NATIVE_SIDECARS", "")).lower()
    if env in ("true", "false"):
        return env == "true"
    return True


def _check_template_names(config: InjectorConfig) -> None:
    known = set(config.templates) | set(config.aliases)
    for name in config.default_templates:
        if name not in known:
            raise ConfigError(f"defaultTemplates names unknown template {name!r}")
    for alias, targets in config.aliases.items():
        for name in targets:
            if name not in config.templates:
                raise ConfigError(f"alias {alias!r} names unknown template {name!r}")
