"""Go ``text/template`` for injection templates, as Istio's injector runs them.

``compile_template(name, text)`` parses once (syntax errors and unknown functions surface
here, naming the template, line and column); ``GoTemplate.render(context)`` executes it over
Istio's ``SidecarTemplateData`` built from our per-pod context, with Go's builtins, Sprig's
functions and Istio's own function map. Modules: ``lexer`` -> ``parser``
(``nodes``) -> ``codegen`` (the tree as Python source) -> ``executor`` (compiles it once,
and what it calls at run time); ``values`` (how Go sees our data), ``builtins``, ``sprig``,
``istio`` (functions), ``data`` (the template data), ``decode`` (the typed-Pod step after
rendering), ``syntax`` (which engine a template is for).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from injector.gotemplate import builtins, istio, sprig
from injector.gotemplate.data import sidecar_data
from injector.gotemplate.decode import as_pod
from injector.gotemplate.errors import ExecError, TemplateError, TemplateSyntaxError
from injector.gotemplate.executor import Program, too_deep
from injector.gotemplate.parser import parse

__all__ = [
    "FUNCS",
    "ExecError",
    "GoTemplate",
    "TemplateError",
    "TemplateSyntaxError",
    "as_pod",
    "compile_template",
]

FUNCS: dict[str, Callable[..., Any]] = {**builtins.FUNCS, **sprig.FUNCS, **istio.FUNCS}


class GoTemplate:
    """A parsed Go template; ``render`` has the signature of ``jinja2.Template.render``."""

    syntax = "go"

    def __init__(self, name: str, text: str, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        try:
            self.program = Program(parse(name, text), funcs)
        except RecursionError:
            raise too_deep(name) from None

    def execute(self, data: Any) -> str:
        """Run over arbitrary data (maps, lists, scalars, ``values.Struct`` views)."""
        return self.program.execute(data)

    def render(self, context: Mapping[str, Any]) -> str:
        """Run over the ``SidecarTemplateData`` of the pod ``context`` describes."""
        return self.program.execute(sidecar_data(context))


def compile_template(
    name: str, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None
) -> GoTemplate:
    return GoTemplate(name, text, FUNCS if funcs is None else funcs)
