"""Errors of the Go template engine, each naming the template, line and column::

TemplateError
├── TemplateSyntaxError    the text does not parse (raised once, when the config loads)
└── ExecError              rendering failed: unknown field, bad argument, failing function
"""

from __future__ import annotations


class TemplateError(Exception):
    """Base class: ``template: NAME:LINE:COL: message``, as Go's text/template words it."""

    def __init__(self, name: str, line: int, col: int, message: str) -> None:
        self.name, self.line, self.col, self.message = name, line, col, message
        super().__init__(f"template: {name}:{line}:{col}: {message}")


class TemplateSyntaxError(TemplateError):
    """The template text is not valid Go template syntax."""


class ExecError(TemplateError):
    """Executing the template failed (the message names the action and the cause)."""


class FuncError(Exception):
    """Raised by a template function; the executor adds the template position."""


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
