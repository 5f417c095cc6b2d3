"""Go template parse tree -> Python source: one function per template, run by ``executor``.

Each template becomes ``def tN(w, d0, depth)``: ``w`` appends output, ``d0`` is dot (and
``$``), ``depth`` counts ``{{template}}`` nesting. Go variables become Python locals (a new
local per declaration, so scoping is the parser's, resolved here once); ``range`` is a
``for`` loop, ``break``/``continue`` are Python's. Every pipeline runs inside ``try``: a
``FuncError`` becomes an ``ExecError`` naming the template, position and action, and every
function call has its own ``try`` adding ``error calling NAME``. Names the generated code
uses, bound by ``executor``: ``F`` (FuncError), ``CE`` (errors a function call may raise),
``x``/``xc``/``xa`` (error builders, by site number), ``f`` (field access), ``truth``,
``items``, ``show``, ``MISSING``, ``T`` (the template functions), ``K`` (constants) and
``fn_*`` (the template functions' Python callables).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from injector.gotemplate import nodes as n
from injector.gotemplate.errors import TemplateSyntaxError, position


@dataclass(frozen=True, slots=True)
class Site:
    """Where an error can arise: position, the action's text, and what failed there."""

    line: int
    col: int
    text: str
    detail: str = ""


@dataclass
class Module:
    """Generated source and the tables it refers to."""

    source: str
    sites: list[Site]
    constants: list[Any]
    functions: dict[str, Callable[..., Any]]


class Generator:
    def __init__(self, tree: n.Tree, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.tree, self.funcs = tree, funcs
        self.lines: list[str] = []
        self.level = 0
        self.counter = 0
        self.sites: list[Site] = []
        self.constants: list[Any] = []
        self.used: dict[str, str] = {}  # template function name -> Python name
        self.scope: list[tuple[str, str]] = []
        self.dot = "d0"
        # ``{{template NAME}}`` targets: the defined templates, else the main body's name.
        self.templates = {tree.name: "main"}
        self.templates.update({name: f"t{i}" for i, name in enumerate(tree.defines)})

    # ----- output -----

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.level + line)

    def temp(self, prefix: str = "r") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def site(self, node: n.Node, text: str, detail: str = "") -> int:
        line, col = position(self.tree.text, node.pos)
        self.sites.append(Site(line, col, text, detail))
        return len(self.sites) - 1

    def constant(self, value: Any) -> str:
        if value is None or isinstance(value, bool | int | str):
            return repr(value)
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def syntax(self, node: n.Node, message: str) -> TemplateSyntaxError:
        line, col = position(self.tree.text, node.pos)
        return TemplateSyntaxError(self.tree.name, line, col, message)

    # ----- templates -----

    def module(self) -> Module:
        self.function("main", self.tree.body)
        for name, body in self.tree.defines.items():
            self.function(self.templates[name], body)
        functions = {py: self.funcs[go] for go, py in self.used.items()}
        return Module("\n".join(self.lines) + "\n", self.sites, self.constants, functions)

    def function(self, pyname: str, body: tuple[n.Node, ...]) -> None:
        self.scope, self.dot = [("$", "d0")], "d0"
        self.emit(f"def {pyname}(w, d0, depth):")
        self.level += 1
        self.block(body)
        self.level -= 1

    def block(self, body: tuple[n.Node, ...]) -> None:
        start = len(self.lines)
        for node in body:
            self.node(node)
        if len(self.lines) == start:
            self.emit("pass")

    def node(self, node: n.Node) -> None:
        if isinstance(node, n.Text):
            self.emit(f"w({node.text!r})")
        elif isinstance(node, n.Action):
            self.action(node)
        elif isinstance(node, n.Branch):
            {"if": self.if_, "with": self.with_, "range": self.range_}[node.kind](node)
        elif isinstance(node, n.TemplateCall):
            self.template_call(node)
        elif isinstance(node, n.LoopControl):
            self.emit(node.kind)
        else:
            raise self.syntax(node, f"unknown node {type(node).__name__}")

    def action(self, node: n.Action) -> None:
        value = self.pipeline(node.pipe)
        if not node.pipe.decl:
            self.emit(f"w({value} if {value}.__class__ is str else show({value}))")

    def scoped(self, fn: Callable[[], None]) -> None:
        mark = len(self.scope)
        fn()
        del self.scope[mark:]

    def if_(self, node: n.Branch) -> None:
        def run() -> None:
            cond = self.pipeline(node.pipe)
            self.emit(f"if truth({cond}):")
            self.indented(node.body)
            if node.orelse:
                self.emit("else:")
                self.indented(node.orelse)

        self.scoped(run)

    def with_(self, node: n.Branch) -> None:
        def run() -> None:
            value = self.pipeline(node.pipe)
            self.emit(f"if truth({value}):")
            outer, self.dot = self.dot, value
            self.indented(node.body)
            self.dot = outer
            if node.orelse:
                self.emit("else:")
                self.indented(node.orelse)

        self.scoped(run)

    def range_(self, node: n.Branch) -> None:
        def run() -> None:
            pipe = node.pipe
            source = self.pipeline(n.Pipeline(pipe.pos, (), False, pipe.cmds, pipe.text))
            k = self.site(node, pipe.text)
            listed, key, dot = self.temp("it"), self.temp("k"), self.temp("d")
            self.guarded(k, f"{listed} = items({source})")
            targets = self.declare(pipe, node) if pipe.decl else ()
            self.emit(f"if {listed}:")
            self.level += 1
            self.emit(f"for {key}, {dot} in {listed}:")
            self.level += 1
            if len(targets) == 2:
                self.emit(f"{targets[0]}, {targets[1]} = {key}, {dot}")
            elif targets:
                self.emit(f"{targets[0]} = {dot}")
            outer, self.dot = self.dot, dot
            self.block(node.body)
            self.dot = outer
            self.level -= 2
            if node.orelse:
                self.emit("else:")
                self.indented(node.orelse)

        self.scoped(run)

    def indented(self, body: tuple[n.Node, ...]) -> None:
        self.level += 1
        self.block(body)
        self.level -= 1

    def template_call(self, node: n.TemplateCall) -> None:
        if node.name not in self.templates:
            raise self.syntax(node, f'no such template "{node.name}"')
        dot = self.pipeline(node.pipe) if node.pipe is not None else "None"
        k = self.site(node, "", f'template "{node.name}" nests too deep')
        self.emit(f"if depth >= MAX_DEPTH: raise xa({k})")
        self.emit(f"{self.templates[node.name]}(w, {dot}, depth + 1)")

    # ----- pipelines -----

    def guarded(self, k: int, statement: str) -> None:
        self.emit("try:")
        self.emit(f"    {statement}")
        self.emit("except F as e:")
        self.emit(f"    raise x({k}, e) from None")

    def pipeline(self, pipe: n.Pipeline) -> str:
        """Emit the statements of ``pipe``; the name of the local holding its value."""
        k = self.site(pipe, pipe.text)
        result = self.temp()
        self.emit("try:")
        self.level += 1
        value = "MISSING"
        for i, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, value if i else None, pipe.text)
        self.emit(f"{result} = {value}")
        self.level -= 1
        self.emit("except F as e:")
        self.emit(f"    raise x({k}, e) from None")
        if pipe.decl:
            (target,) = self.declare(pipe, pipe)
            self.emit(f"{target} = {result}")
        return result

    def declare(self, pipe: n.Pipeline, node: n.Node) -> tuple[str, ...]:
        """Python locals for the pipeline's variables (new ones for ``:=``)."""
        targets = []
        for name in pipe.decl:
            if pipe.assign:
                found = [py for go, py in reversed(self.scope) if go == name]
                if not found:
                    k = self.site(node, pipe.text, f"undefined variable: {name}")
                    self.emit(f"raise xa({k})")
                    targets.append(self.temp("v"))
                    continue
                targets.append(found[0])
            else:
                py = self.temp("v")
                self.scope.append((name, py))
                targets.append(py)
        return tuple(targets)

    def command(self, cmd: n.Command, piped: str | None, pipe_text: str) -> str:
        head, rest = cmd.args[0], cmd.args[1:]
        if isinstance(head, n.Identifier):
            return self.call(head, rest, piped, pipe_text)
        if rest or piped is not None:
            if isinstance(head, n.Field | n.Variable | n.Chain):
                raise self.syntax(head, f"{_describe(head)} has arguments but is not a function")
            what = getattr(head, "text", None) or type(head).__name__.lower()
            raise self.syntax(head, f"can't give argument to non-function {what}")
        return self.operand(head)

    def call(
        self, head: n.Identifier, rest: tuple[n.Node, ...], piped: str | None, pipe_text: str
    ) -> str:
        name = head.name
        if name not in self.funcs:
            raise self.syntax(head, f'function "{name}" not defined')
        if name in ("and", "or") and (rest or piped is not None):
            return self.logic(name == "or", rest, piped)
        arity = _arity_error(name, self.funcs[name], len(rest) + (piped is not None))
        if arity:
            k = self.site(head, pipe_text, arity)
            self.emit(f"raise xa({k})")
            return "None"
        args = [self.operand(arg) for arg in rest]
        if piped is not None:
            args.append(piped)
        fn = self.used.setdefault(name, f"fn_{len(self.used)}")
        k = self.site(head, pipe_text, f"error calling {name}")
        result = self.temp()
        self.emit("try:")
        self.emit(f"    {result} = {fn}({', '.join(args)})")
        self.emit("except CE as e:")
        self.emit(f"    raise xc({k}, e) from None")
        return result

    def logic(self, want: bool, rest: tuple[n.Node, ...], piped: str | None) -> str:
        """``and``/``or``: the first argument that decides, else the last; later ones unread."""
        result = self.temp()
        operands: list[n.Node | str] = [*rest, *([piped] if piped is not None else [])]
        depth = 0
        for i, arg in enumerate(operands):
            value = arg if isinstance(arg, str) else self.operand(arg)
            self.emit(f"{result} = {value}")
            if i < len(operands) - 1:
                self.emit(f"if {'not ' if want else ''}truth({result}):")
                self.level += 1
                depth += 1
        self.level -= depth
        return result

    def operand(self, node: n.Node) -> str:
        if isinstance(node, n.Literal):
            return self.constant(node.value)
        if isinstance(node, n.Dot):
            return self.dot
        if isinstance(node, n.Field):
            return _fields(self.dot, node.names)
        if isinstance(node, n.Variable):
            found = [py for go, py in reversed(self.scope) if go == node.var]
            if not found:
                raise self.syntax(node, f'undefined variable "{node.var}"')
            return _fields(found[0], node.names)
        if isinstance(node, n.Chain):
            return _fields(self.operand(node.node), node.names)
        if isinstance(node, n.Pipeline):
            return self.pipeline(node)
        if isinstance(node, n.Identifier):
            return self.call(node, (), None, node.name)
        raise self.syntax(node, f"unexpected {type(node).__name__}")


def _fields(base: str, names: tuple[str, ...]) -> str:
    for name in names:
        base = f"f({base}, {name!r})"
    return base


def _describe(node: n.Node) -> str:
    if isinstance(node, n.Field):
        return "." + ".".join(node.names)
    if isinstance(node, n.Variable):
        return node.var + "".join("." + x for x in node.names)
    return "(...)" + "".join("." + x for x in getattr(node, "names", ()))


def _arity_error(name: str, fn: Callable[..., Any], count: int) -> str:
    """Go's message when ``fn`` cannot take ``count`` arguments (raised if the call runs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ""
    kinds = inspect.Parameter
    positional = [
        p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(1 for p in positional if p.default is p.empty)
    variadic = any(p.kind is kinds.VAR_POSITIONAL for p in params)
    if variadic and count < required:
        return f"wrong number of args for {name}: want at least {required} got {count}"
    if not variadic and not required <= count <= len(positional):
        return f"wrong number of args for {name}: want {len(positional)} got {count}"
    return ""


def generate(tree: n.Tree, funcs: Mapping[str, Callable[..., Any]]) -> Module:
    return Generator(tree, funcs).module()
