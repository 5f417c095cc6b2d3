"""Go template executor: a parse tree is compiled once into Python closures, then run.

Semantics follow Go's text/template: pipelines pass the previous command's value as the last
argument; ``and``/``or`` stop at the first deciding argument; variables live until the
``{{end}}`` of the block that declared them; ``range`` over a map visits its keys sorted.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from injector.gotemplate import nodes as n
from injector.gotemplate.errors import ExecError, FuncError, TemplateSyntaxError, position
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
Value = Callable[["State", Any], Any]
Emit = Callable[["State", Any], None]


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    __slots__ = ("out", "vars", "depth", "program")

    def __init__(self, program: Program, dot: Any) -> None:
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", dot]]
        self.depth = 0
        self.program = program

    def lookup(self, name: str) -> list[Any]:
        for slot in reversed(self.vars):
            if slot[0] == name:
                found: list[Any] = slot
                return found
        raise FuncError(f"undefined variable: {name}")


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


def _chain(base: Value, names: tuple[str, ...]) -> Value:
    if not names:
        return base
    if len(names) == 1:
        only = names[0]
        return lambda s, d: field_of(base(s, d), only)

    def run(s: State, d: Any) -> Any:
        value = base(s, d)
        for name in names:
            value = field_of(value, name)
        return value

    return run


def _fields_of_dot(names: tuple[str, ...]) -> Value:
    if len(names) == 1:
        only = names[0]
        return lambda s, d: field_of(d, only)

    def run(s: State, d: Any) -> Any:
        value = d
        for name in names:
            value = field_of(value, name)
        return value

    return run


class Program:
    """A compiled template set: the main body and every ``define``d template."""

    def __init__(self, tree: n.Tree, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.name, self.text, self.funcs = tree.name, tree.text, funcs
        self.templates: dict[str, Emit] = {}
        self._defined = set(tree.defines) | {tree.name}
        for name, body in tree.defines.items():
            self.templates[name] = self._block(body)
        self.main = self._block(tree.body)

    def execute(self, dot: Any) -> str:
        state = State(self, dot)
        self.main(state, dot)
        return "".join(state.out)

    # ----- errors -----

    def _where(self, node: n.Node) -> tuple[int, int]:
        return position(self.text, node.pos)

    def _syntax(self, node: n.Node, message: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(self.name, *self._where(node), message)

    def _guard(
        self,
        node: n.Node,
        pipe_text: str,
        fn: Value,
        command: Callable[[State, Any, Any], Any] | None = None,
    ) -> Value:
        """``fn`` with a ``FuncError`` turned into an ``ExecError`` naming the action.

        Given the pipeline's only ``command``, that is called directly (one call less).
        """
        line, col = self._where(node)
        name = self.name

        def error(exc: Exception) -> ExecError:
            if isinstance(exc, RecursionError):
                return ExecError(name, line, col, "template nesting too deep")
            return ExecError(name, line, col, f'executing "{name}" at <{pipe_text}>: {exc}')

        if command is not None:
            only = command

            def run_command(s: State, d: Any) -> Any:
                try:
                    return only(s, d, MISSING)
                except (FuncError, RecursionError) as exc:
                    raise error(exc) from None

            return run_command

        def run(s: State, d: Any) -> Any:
            try:
                return fn(s, d)
            except (FuncError, RecursionError) as exc:
                raise error(exc) from None

        return run

    # ----- structure -----

    def _block(self, body: tuple[n.Node, ...]) -> Emit:
        parts = [self._node(node) for node in body]
        if len(parts) == 1:
            return parts[0]

        def run(s: State, d: Any) -> None:
            for part in parts:
                part(s, d)

        return run

    def _node(self, node: n.Node) -> Emit:
        if isinstance(node, n.Text):
            text = node.text
            return lambda s, d: s.out.append(text)
        if isinstance(node, n.Action):
            return self._action(node)
        if isinstance(node, n.Branch):
            return {"if": self._if, "with": self._with, "range": self._range}[node.kind](node)
        if isinstance(node, n.TemplateCall):
            return self._template(node)
        if isinstance(node, n.LoopControl):
            error = _Break if node.kind == "break" else _Continue

            def loop_control(s: State, d: Any) -> None:
                raise error

            return loop_control
        raise self._syntax(node, f"unknown node {type(node).__name__}")

    def _action(self, node: n.Action) -> Emit:
        pipe = self._pipeline(node.pipe)
        if node.pipe.decl:
            return lambda s, d: (pipe(s, d), None)[1]

        def emit(s: State, d: Any) -> None:
            value = pipe(s, d)
            if isinstance(value, str):
                s.out.append(value)
            elif value is None or value is MISSING:
                s.out.append("<no value>")
            else:
                s.out.append(go_str(value))

        return emit

    def _if(self, node: n.Branch) -> Emit:
        cond, body = self._pipeline(node.pipe), self._block(node.body)
        orelse = self._block(node.orelse) if node.orelse else None

        def run(s: State, d: Any) -> None:
            mark = len(s.vars)
            if is_true(cond(s, d)):
                body(s, d)
            elif orelse is not None:
                orelse(s, d)
            del s.vars[mark:]

        return run

    def _with(self, node: n.Branch) -> Emit:
        cond, body = self._pipeline(node.pipe), self._block(node.body)
        orelse = self._block(node.orelse) if node.orelse else None

        def run(s: State, d: Any) -> None:
            mark = len(s.vars)
            value = cond(s, d)
            if is_true(value):
                body(s, value)
            elif orelse is not None:
                orelse(s, d)
            del s.vars[mark:]

        return run

    def _range(self, node: n.Branch) -> Emit:
        decl = node.pipe.decl
        source = self._pipeline(n.Pipeline(node.pipe.pos, (), False, node.pipe.cmds))
        guarded = self._guard(node, node.pipe.text, lambda s, d: _items(source(s, d)))
        body = self._block(node.body)
        orelse = self._block(node.orelse) if node.orelse else None
        assign = node.pipe.assign

        def bind(s: State, key: Any, value: Any) -> None:
            names = decl if len(decl) == 2 else (None, decl[0])
            for name, item in zip(names, (key, value), strict=True):
                if name is None:
                    continue
                if assign:
                    s.lookup(name)[1] = item
                else:
                    s.vars.append([name, item])

        def run(s: State, d: Any) -> None:
            mark = len(s.vars)
            items = guarded(s, d)
            if not items:
                if orelse is not None:
                    orelse(s, d)
                return
            for key, value in items:
                if decl:
                    bind(s, key, value)
                try:
                    body(s, value)
                except _Continue:
                    pass
                except _Break:
                    del s.vars[mark:]
                    break
                del s.vars[mark:]

        return run

    def _template(self, node: n.TemplateCall) -> Emit:
        if node.name not in self._defined:
            raise self._syntax(node, f'no such template "{node.name}"')
        pipe = self._pipeline(node.pipe) if node.pipe is not None else None
        name = node.name
        line, col = self._where(node)

        def run(s: State, d: Any) -> None:
            target = self.templates.get(name) or self.main
            dot = pipe(s, d) if pipe is not None else None
            if s.depth >= MAX_DEPTH:
                raise ExecError(self.name, line, col, f'template "{name}" nests too deep')
            saved, s.vars = s.vars, [["$", dot]]
            s.depth += 1
            try:
                target(s, dot)
            finally:
                s.depth -= 1
                s.vars = saved

        return run

    # ----- pipelines -----

    def _pipeline(self, pipe: n.Pipeline) -> Value:
        cmds = [self._command(cmd, i > 0, pipe.text) for i, cmd in enumerate(pipe.cmds)]
        if len(cmds) == 1:
            first = cmds[0]
            chained: Value = lambda s, d: first(s, d, MISSING)  # noqa: E731
            if not pipe.decl:  # the common case, without the extra call of ``_guard``
                return self._guard(pipe, pipe.text, chained, first)
        else:

            def chained(s: State, d: Any) -> Any:
                value = MISSING
                for cmd in cmds:
                    value = cmd(s, d, value)
                return value

        if not pipe.decl:
            return self._guard(pipe, pipe.text, chained)
        names, assign = pipe.decl, pipe.assign

        def declare(s: State, d: Any) -> Any:
            value = chained(s, d)
            if assign:
                s.lookup(names[0])[1] = value
            else:
                s.vars.append([names[0], value])
            return value

        return self._guard(pipe, pipe.text, declare)

    def _command(
        self, cmd: n.Command, piped: bool, pipe_text: str
    ) -> Callable[[State, Any, Any], Any]:
        head, rest = cmd.args[0], cmd.args[1:]
        if isinstance(head, n.Identifier):
            return self._call(head, rest, piped, pipe_text)
        if rest or piped:
            what = getattr(head, "text", None) or type(head).__name__.lower()
            if isinstance(head, n.Field | n.Variable | n.Chain):
                raise self._syntax(head, f"{_describe(head)} has arguments but is not a function")
            raise self._syntax(head, f"can't give argument to non-function {what}")
        value = self._operand(head)
        return lambda s, d, final: value(s, d)

    def _call(
        self, head: n.Identifier, rest: tuple[n.Node, ...], piped: bool, pipe_text: str
    ) -> Callable[[State, Any, Any], Any]:
        name = head.name
        if name not in self.funcs:
            raise self._syntax(head, f'function "{name}" not defined')
        fn = self.funcs[name]
        args = [self._operand(arg) for arg in rest]
        line, col = self._where(head)
        tname = self.name

        def fail(exc: Exception) -> ExecError:
            message = f'executing "{tname}" at <{pipe_text}>: error calling {name}: {exc}'
            return ExecError(tname, line, col, message)

        if name in ("and", "or"):
            want = name == "or"

            def logic(s: State, d: Any, final: Any) -> Any:
                value: Any = MISSING
                for arg in args:
                    value = arg(s, d)
                    if is_true(value) == want:
                        return value
                if piped:
                    value = final
                return value

            return logic

        arity = _arity_error(name, fn, len(args) + piped)
        if arity:

            def wrong_count(s: State, d: Any, final: Any) -> Any:
                message = f'executing "{tname}" at <{pipe_text}>: {arity}'
                raise ExecError(tname, line, col, message)

            return wrong_count
        return _invoke(fn, args, piped, fail)

    def _operand(self, node: n.Node) -> Value:
        if isinstance(node, n.Literal):
            value = node.value
            return lambda s, d: value
        if isinstance(node, n.Dot):
            return lambda s, d: d
        if isinstance(node, n.Field):
            return _fields_of_dot(node.names)
        if isinstance(node, n.Variable):
            var = node.var
            return _chain(lambda s, d: s.lookup(var)[1], node.names)
        if isinstance(node, n.Chain):
            return _chain(self._operand(node.node), node.names)
        if isinstance(node, n.Pipeline):
            return self._pipeline(node)
        if isinstance(node, n.Identifier):
            call = self._call(node, (), False, node.name)
            return lambda s, d: call(s, d, MISSING)
        raise self._syntax(node, f"unexpected {type(node).__name__}")


_CALL_ERRORS = (FuncError, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError)


def _invoke(
    fn: Callable[..., Any],
    args: list[Value],
    piped: bool,
    fail: Callable[[Exception], ExecError],
) -> Callable[[State, Any, Any], Any]:
    """Call ``fn`` on the evaluated ``args`` (and the piped value); the shapes templates use
    most are spelled out, as this is the hottest call of a render."""
    if len(args) == 1 and not piped:
        (a,) = args

        def call1(s: State, d: Any, final: Any) -> Any:
            x = a(s, d)
            try:
                return fn(x)
            except _CALL_ERRORS as exc:
                raise fail(exc) from None

        return call1
    if len(args) == 1:
        (a,) = args

        def call1p(s: State, d: Any, final: Any) -> Any:
            x = a(s, d)
            try:
                return fn(x, final)
            except _CALL_ERRORS as exc:
                raise fail(exc) from None

        return call1p
    if len(args) == 2 and not piped:
        a, b = args

        def call2(s: State, d: Any, final: Any) -> Any:
            x, y = a(s, d), b(s, d)
            try:
                return fn(x, y)
            except _CALL_ERRORS as exc:
                raise fail(exc) from None

        return call2

    def call(s: State, d: Any, final: Any) -> Any:
        values = [arg(s, d) for arg in args]
        if piped:
            values.append(final)
        try:
            return fn(*values)
        except _CALL_ERRORS as exc:
            raise fail(exc) from None

    return call


def _arity_error(name: str, fn: Callable[..., Any], count: int) -> str:
    """Go's message when ``fn`` cannot take ``count`` arguments (raised when the call runs)."""
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


def _describe(node: n.Node) -> str:
    if isinstance(node, n.Field):
        return "." + ".".join(node.names)
    if isinstance(node, n.Variable):
        return node.var + "".join("." + x for x in node.names)
    return "(...)" + "".join("." + x for x in getattr(node, "names", ()))


def _items(value: Any) -> list[tuple[Any, Any]]:
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
