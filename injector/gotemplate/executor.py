"""Go template executor: the parse tree becomes Python functions once (``codegen``), then runs.

Semantics follow Go's text/template: pipelines pass the previous command's value as the last
argument; ``and``/``or`` stop at the first deciding argument; variables live until the
``{{end}}`` of the block that declared them; ``range`` over a map visits its keys sorted.
This module holds what the generated code calls at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from injector.gotemplate import codegen
from injector.gotemplate import nodes as n
from injector.gotemplate.errors import ExecError, FuncError, TemplateSyntaxError
from injector.gotemplate.values import (
    MISSING,
    StrMap,
    Struct,
    go_str,
    is_true,
    loose,
    type_name,
)

MAX_DEPTH = 100
CALL_ERRORS = (FuncError, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError)


def field_of(receiver: Any, name: str) -> Any:
    """``receiver.name`` with Go's rules (see ``values``)."""
    if isinstance(receiver, dict):
        if name in receiver:
            return receiver[name]
        return "" if isinstance(receiver, StrMap) else MISSING
    if isinstance(receiver, Struct):
        return receiver.field(name)
    if receiver is MISSING:
        return MISSING
    if receiver is None:
        if name.startswith("Get"):
            return None  # protobuf getters answer the zero value on a nil message
        raise FuncError(f"nil pointer evaluating interface {{}}.{name}")
    if name in ("Value", "GetValue") and isinstance(receiver, bool | int | float | str):
        return receiver  # protobuf wrapper types (BoolValue, Int32Value, ...) as JSON scalars
    if name == "String":
        return go_str(receiver)
    raise FuncError(f"can't evaluate field {name} in type {type_name(receiver)}")


def show(value: Any) -> str:
    """How an action prints a value that is not a string."""
    if value is None or value is MISSING:
        return "<no value>"
    return go_str(value)


def too_deep(name: str) -> TemplateSyntaxError:
    return TemplateSyntaxError(
        name,
        1,
        1,
        "template nests too deeply (limits: about 90 nested blocks, 19 nested"
        " ranges, 19 nested parentheses)",
    )


class Program:
    """A compiled template set: the main body and every ``define``d template."""

    def __init__(self, tree: n.Tree, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.name = tree.name
        module = codegen.generate(tree, funcs)
        sites = module.sites

        def at(k: int, message: str) -> ExecError:
            site = sites[k]
            return ExecError(tree.name, site.line, site.col, message)

        def x(k: int, exc: Exception) -> ExecError:
            return at(k, f'executing "{tree.name}" at <{sites[k].text}>: {exc}')

        def xc(k: int, exc: Exception) -> ExecError:
            return x(k, FuncError(f"{sites[k].detail}: {exc}"))

        def xa(k: int) -> ExecError:
            site = sites[k]
            if not site.text:
                return at(k, site.detail)
            return x(k, FuncError(site.detail))

        namespace: dict[str, Any] = {
            **module.functions,
            "F": FuncError,
            "CE": CALL_ERRORS,
            "x": x,
            "xc": xc,
            "xa": xa,
            "f": field_of,
            "truth": is_true,
            "items": items,
            "show": show,
            "MISSING": MISSING,
            "MAX_DEPTH": MAX_DEPTH,
            "K": module.constants,
        }
        try:
            code = compile(module.source, f"<gotemplate {tree.name}>", "exec")
        except (SyntaxError, RecursionError, MemoryError):
            raise too_deep(tree.name) from None
        exec(code, namespace)  # codegen writes every piece of template text as a literal
        self.source = module.source
        self.main = namespace["main"]

    def execute(self, dot: Any) -> str:
        out: list[str] = []
        self.main(out.append, dot, 0)
        return "".join(out)


def items(value: Any) -> list[tuple[Any, Any]]:
    if value is None or value is MISSING:
        return []
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, Struct) and value.is_loose:
        return [(k, loose(value.data[k])) for k in sorted(value.data)]
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    raise FuncError(f"range can't iterate over {go_str(value)}")
