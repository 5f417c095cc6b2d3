"""Go template parser: tokens -> ``Tree`` (body plus ``define``/``block`` templates)."""

from __future__ import annotations

import ast
from typing import Any

from injector.gotemplate import nodes as n
from injector.gotemplate.errors import TemplateSyntaxError, position
from injector.gotemplate.lexer import Token, tokenize

_OPERAND_START = frozenset(
    {"field", "dot", "var", "ident", "string", "rawstring", "char", "number", "bool", "nil"}
)


class Parser:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.tokens = tokenize(name, text)
        self.i = 0
        self.defines: dict[str, tuple[n.Node, ...]] = {}
        self.loops = 0
        self.vars = ["$"]  # variables in scope, innermost last (Go checks them when parsing)

    # ----- helpers -----

    def error(self, pos: int, message: str) -> TemplateSyntaxError:
        line, col = position(self.text, pos)
        return TemplateSyntaxError(self.name, line, col, message)

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str, context: str) -> Token:
        token = self.next()
        if token.kind != kind:
            raise self.error(token.pos, f"unexpected {describe(token)} in {context}")
        return token

    # ----- structure -----

    def parse(self) -> n.Tree:
        body, stop = self.parse_list(top=True)
        if stop is not None:
            raise self.error(stop.pos, f"unexpected {{{{{stop.value}}}}}")
        if self.name in self.defines:  # ``{{define}}`` of the template's own name
            if not _empty(body):
                raise self.error(0, f'multiple definition of template "{self.name}"')
            body = self.defines[self.name]
        return n.Tree(self.name, self.text, body, self.defines)

    def define(self, head: Token, name: str, body: tuple[n.Node, ...]) -> None:
        """Go's rule: a template defined twice is an error unless one of them is empty."""
        if _empty(body) and name in self.defines:
            return
        if name in self.defines and not _empty(self.defines[name]):
            raise self.error(head.pos, f'multiple definition of template "{name}"')
        self.defines[name] = body

    def parse_list(self, top: bool = False) -> tuple[tuple[n.Node, ...], Token | None]:
        """Nodes up to ``{{end}}``/``{{else}}`` (returned, consumed up to the keyword) or EOF."""
        out: list[n.Node] = []
        while True:
            token = self.next()
            if token.kind == "eof":
                self.i -= 1
                return tuple(out), None
            if token.kind == "text":
                out.append(n.Text(token.pos, token.value))
                continue
            head = self.peek()
            if head.kind == "keyword" and head.value in ("end", "else"):
                self.next()
                return tuple(out), head
            node = self.action(token, head, top)
            if node is not None:
                out.append(node)

    def action(self, open_: Token, head: Token, top: bool) -> n.Node | None:
        if head.kind != "keyword":
            pipe = self.pipeline("command", allow_decl=True)
            return n.Action(open_.pos, pipe)
        self.next()
        word = head.value
        if word in ("if", "with", "range"):
            return self.branch(head, word)
        if word in ("break", "continue"):
            if not self.loops:
                raise self.error(head.pos, f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect("close", word)
            return n.LoopControl(head.pos, word)
        if word == "template":
            name = self.template_name("template clause")
            if self.peek().kind == "close":
                self.next()
                return n.TemplateCall(head.pos, name, None)
            return n.TemplateCall(head.pos, name, self.pipeline("template clause"))
        if word == "define":
            if not top:
                raise self.error(head.pos, "{{define}} is only allowed at the top level")
            name = self.template_name("define clause")
            self.expect("close", "define clause")
            outer, self.vars = self.vars, ["$"]
            self.define(head, name, self.body_until_end(head, "define"))
            self.vars = outer
            return None
        if word == "block":
            name = self.template_name("block clause")
            pipe = self.pipeline("block clause")
            outer, self.vars = self.vars, ["$"]
            self.define(head, name, self.body_until_end(head, "block"))
            self.vars = outer
            return n.TemplateCall(head.pos, name, pipe)
        raise self.error(head.pos, f"unexpected {{{{{word}}}}}")

    def template_name(self, context: str) -> str:
        token = self.next()
        if token.kind not in ("string", "rawstring"):
            raise self.error(token.pos, f"unexpected {describe(token)} in {context}")
        return str(literal(token))

    def body_until_end(self, head: Token, word: str) -> tuple[n.Node, ...]:
        body, stop = self.parse_list()
        if stop is None or stop.value != "end":
            raise self.error(head.pos, f"unexpected EOF: {{{{{word}}}}} has no {{{{end}}}}")
        self.expect("close", "end")
        return body

    def branch(self, head: Token, kind: str) -> n.Branch:
        scope = len(self.vars)
        try:
            return self._branch(head, kind)
        finally:
            del self.vars[scope:]

    def _branch(self, head: Token, kind: str) -> n.Branch:
        pipe = self.pipeline(kind, allow_decl=True, range_decl=kind == "range")
        if kind == "range":
            self.loops += 1
        body, stop = self.parse_list()
        if kind == "range":
            self.loops -= 1
        if stop is None:
            raise self.error(head.pos, f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}")
        orelse: tuple[n.Node, ...] = ()
        if stop.value == "else":
            follow = self.peek()
            if follow.kind == "keyword" and follow.value in ("if", "with") and kind != "range":
                if follow.value != kind:
                    raise self.error(follow.pos, f"{{{{else {follow.value}}}}} inside {kind}")
                self.next()
                orelse = (self.branch(follow, kind),)
                return n.Branch(head.pos, kind, pipe, body, orelse)
            self.expect("close", "else")
            orelse, stop = self.parse_list()
            if stop is None or stop.value != "end":
                raise self.error(head.pos, f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}")
        self.expect("close", "end")
        return n.Branch(head.pos, kind, pipe, body, orelse)

    # ----- pipelines -----

    def pipeline(
        self, context: str, allow_decl: bool = False, range_decl: bool = False
    ) -> n.Pipeline:
        start = self.peek()
        decl, assign = self.declarations(allow_decl, range_decl)
        cmds: list[n.Command] = []
        end_token = "close" if context != "paren" else "rparen"
        while True:
            token = self.peek()
            if token.kind == end_token:
                self.next()
                break
            if token.kind in ("close", "rparen", "eof"):
                raise self.error(token.pos, f"unexpected {describe(token)} in {context}")
            cmds.append(self.command(context))
            token = self.peek()
            if token.kind == "pipe":
                self.next()
                if self.peek().kind == end_token:
                    raise self.error(token.pos, f"missing command after | in {context}")
        if not cmds:
            raise self.error(start.pos, f"missing value for {context}")
        for cmd in cmds[1:]:
            if isinstance(cmd.args[0], n.Literal):
                text = cmd.args[0].text
                raise self.error(cmd.pos, f"non executable command in pipeline stage: {text}")
        text = self.text[start.pos : self.tokens[self.i - 1].pos]
        return n.Pipeline(start.pos, decl, assign, tuple(cmds), text.strip())

    def declarations(self, allow: bool, range_decl: bool) -> tuple[tuple[str, ...], bool]:
        if not allow or self.peek().kind != "var":
            return (), False
        first, after = self.peek(), self.peek(1)
        if after.kind in ("declare", "assign"):
            self.i += 2
            self.vars.append(first.value)
            return (first.value,), after.kind == "assign"
        if range_decl and after.kind == "comma":
            second, op = self.peek(2), self.peek(3)
            if second.kind == "var" and op.kind in ("declare", "assign"):
                self.i += 4
                self.vars.extend((first.value, second.value))
                return (first.value, second.value), op.kind == "assign"
            raise self.error(after.pos, "too many declarations in range")
        return (), False

    def command(self, context: str) -> n.Command:
        start = self.peek()
        args: list[n.Node] = []
        while True:
            token = self.peek()
            if token.kind in ("pipe", "close", "rparen", "eof"):
                break
            args.append(self.operand(context))
        if not args:
            raise self.error(start.pos, f"empty command in {context}")
        return n.Command(start.pos, tuple(args))

    def operand(self, context: str) -> n.Node:
        token = self.next()
        node: n.Node
        if token.kind == "lparen":
            node = self.pipeline("paren")
        elif token.kind == "field":
            names = [token.value[1:]]
            names.extend(self.chain_names(token))
            return n.Field(token.pos, tuple(names))
        elif token.kind == "var":
            if token.value not in self.vars:
                raise self.error(token.pos, f'undefined variable "{token.value}"')
            return n.Variable(token.pos, token.value, tuple(self.chain_names(token)))
        elif token.kind == "dot":
            node = n.Dot(token.pos)
        elif token.kind == "ident":
            node = n.Identifier(token.pos, token.value)
        elif token.kind in _OPERAND_START:
            node = n.Literal(token.pos, literal(token), token.value)
        else:
            raise self.error(token.pos, f"unexpected {describe(token)} in {context}")
        last = self.tokens[self.i - 1]
        names = self.chain_names(last)
        if names:
            if isinstance(node, n.Literal | n.Dot):
                raise self.error(token.pos, f"unexpected . after term {token.value!r}")
            return n.Chain(token.pos, node, tuple(names))
        return node

    def chain_names(self, last: Token) -> list[str]:
        """Field names written directly after ``last`` (no space): ``$x.A.B``, ``(p).A``."""
        names: list[str] = []
        while self.peek().kind == "field" and self.peek().pos == last.end:
            last = self.next()
            names.append(last.value[1:])
        return names


def _empty(body: tuple[n.Node, ...]) -> bool:
    return all(isinstance(node, n.Text) and not node.text.strip() for node in body)


def literal(token: Token) -> Any:
    text = token.value
    if token.kind == "string":
        return ast.literal_eval(text)
    if token.kind == "rawstring":
        return text[1:-1].replace("\r", "")
    if token.kind == "char":
        value = ast.literal_eval(text)
        return ord(value[0]) if value else 0
    if token.kind == "bool":
        return text == "true"
    if token.kind == "nil":
        return None
    return number(text)


def number(text: str) -> int | float:
    clean = text.replace("_", "")
    body = clean.lstrip("+-")
    sign = -1 if clean.startswith("-") else 1
    if body[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(body, 0)
    if len(body) > 1 and body.startswith("0") and body.isdigit():
        return sign * int(body, 8)
    if any(c in body for c in ".eE"):
        return float(clean)
    return int(clean)


def describe(token: Token) -> str:
    if token.kind == "eof":
        return "EOF"
    if token.kind == "close":
        return "}}"
    return f"{token.value!r}" if token.value else token.kind


def parse(name: str, text: str) -> n.Tree:
    """Parse ``text``; ``TemplateSyntaxError`` names the template, line and column."""
    return Parser(name, text).parse()
