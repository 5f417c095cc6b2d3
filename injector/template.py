"""Sidecar templates: Jinja2 or Istio's Go syntax, rendered into a partial pod.

Each template is compiled by the engine its syntax asks for (``injector.gotemplate.syntax``:
a ``# syntax: go`` / ``# syntax: jinja`` first line, else the look of its actions). Go
templates see Istio's ``SidecarTemplateData`` (see ``injector.gotemplate.data``); the rest of
this docstring is about Jinja2 templates.

Templates are data (files an operator can edit). Rendering is made safe by construction:
every ``{{ expression }}`` is emitted as a JSON literal, which is also a valid YAML scalar or
flow collection, so an annotation value can never break out of its field (a newline, a ``:``
or a ``- name:`` inside a value stays text). Use the ``raw`` filter only for trusted text.

Variables available to a template (built by ``injector.context``): ``pod``, ``spec``,
``labels``, ``annotations``, ``values`` (Istio's values layout), ``mesh``, ``proxy_config``,
``revision``, ``native_sidecar``, ``hold_application``, ``interception_mode``, ``status_port``,
``proxy_image``, ``proxy_init_image``, ``proxy_uid``, ``proxy_gid``, ``workload`` (``name``,
``namespace``, ``kind``, ``api_version``), ``app_containers``, ``pod_ports_json``,
``proxy_config_json``, ``canonical_name``, ``canonical_revision``, ``trust_domain``,
``proxy_resources``, ``user_volumes``, ``user_volume_mounts``, ``inbound_traffic_policy_mode``,
``compliance_policy``. Functions: ``annotation(name, default)``, ``exclude_inbound_ports``,
``join_ports``, ``append_multus_network``, ``to_json``, ``from_json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import jinja2
import orjson
import yaml_rs

from injector import gotemplate, podshape
from injector.errors import ConfigError, InjectionError, InvalidPodError
from injector.gotemplate import syntax
from injector.render_cache import View, plain

logger = logging.getLogger(__name__)


Compiled = jinja2.Template | gotemplate.GoTemplate


class Raw(str):
    """Text a template inserts verbatim (bypasses JSON quoting)."""


def _finalize(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, jinja2.Undefined):
        return '""'
    return orjson.dumps(value, default=_default).decode()


def _default(value: Any) -> Any:
    """Pod data reaches templates as ``render_cache`` views: they print as their data."""
    if isinstance(value, View):
        return plain(value)
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.ChainableUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["raw"] = Raw
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": plain}  # ``tojson``
    env.globals.update(to_json=_to_json, from_json=_from_json)
    return env


def _to_json(value: Any) -> str:
    return orjson.dumps(value, default=plain).decode()


def _from_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InjectionError(f"not valid JSON: {text!r}") from exc


_ENV = _environment()


def compile_template(name: str, source: str) -> Compiled:
    """Compile a template with the engine of its syntax; ``ConfigError`` names it."""
    if syntax.of(source) == "go":
        try:
            return gotemplate.compile_template(name, source)
        except gotemplate.TemplateSyntaxError as exc:
            raise ConfigError(f"template {name!r} (Go syntax): {exc}") from exc
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template {name!r}: line {exc.lineno}: {exc.message}") from exc


def render(name: str, template: Compiled, context: Mapping[str, Any]) -> dict[str, Any]:
    """Render ``template`` and parse the result into a partial pod."""
    try:
        text = template.render(context)
    except InjectionError:
        raise
    except Exception as exc:  # a template bug or bad data: deny the pod with the reason
        raise InjectionError(f"template {name!r} failed to render: {exc}") from exc
    try:
        # YAML 1.2 (``yes``/``on`` stay strings), duplicate keys rejected; rendered values
        # are JSON literals, so only a template's own static text meets these rules.
        result = yaml_rs.loads(text, parse_datetime=False)
    except yaml_rs.YAMLDecodeError as exc:
        logger.debug("template %s rendered invalid YAML:\n%s", name, text)
        raise InjectionError(f"template {name!r} rendered invalid YAML: {exc}") from exc
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise InjectionError(f"template {name!r} must render a mapping (a partial pod)")
    try:
        podshape.check_partial(result)
    except InvalidPodError as exc:
        raise InjectionError(f"template {name!r} renders a bad partial pod: {exc}") from exc
    if isinstance(template, gotemplate.GoTemplate):
        return gotemplate.as_pod(result)
    return result
