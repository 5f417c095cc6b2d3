"""Go template lexer: text, ``{{ actions }}`` with trim markers, and the tokens inside actions.

Trim markers follow Go: ``{{- `` (dash then a space) drops the whitespace before the action,
`` -}}`` the whitespace after it. ``{{/* comments */}}`` produce no token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from injector.gotemplate.errors import TemplateSyntaxError, position

KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
_SPACE = " \t\r\n"
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|"
    r"(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_CHAR = re.compile(r"'(?:[^'\\\n]|\\.[^']*)'")


@dataclass(frozen=True, slots=True)
class Token:
    """``kind`` is one of: text, open, close, keyword, ident, field, dot, var, string,
    char, number, bool, nil, lparen, rparen, pipe, comma, declare, assign, eof."""

    kind: str
    value: str
    pos: int
    end: int


class Lexer:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.tokens: list[Token] = []

    def error(self, pos: int, message: str) -> TemplateSyntaxError:
        line, col = position(self.text, pos)
        return TemplateSyntaxError(self.name, line, col, message)

    def run(self) -> list[Token]:
        text, pos = self.text, 0
        while True:
            start = text.find("{{", pos)
            if start < 0:
                self._text(pos, len(text))
                break
            trim_left = text.startswith("{{- ", start) or (
                text.startswith("{{-", start) and text[start + 3 : start + 4] in tuple(_SPACE)
            )
            end_text = start
            if trim_left:
                while end_text > pos and text[end_text - 1] in _SPACE:
                    end_text -= 1
            self._text(pos, end_text)
            inner = start + (3 if trim_left else 2)
            pos = self._action(start, inner)
        self.tokens.append(Token("eof", "", len(text), len(text)))
        return self.tokens

    def _text(self, start: int, end: int) -> None:
        if end > start:
            self.tokens.append(Token("text", self.text[start:end], start, end))

    def _after_close(self, close: int) -> int:
        """Position after ``}}`` at ``close`` (a `` -}}`` marker also eats the whitespace)."""
        text, pos = self.text, close
        if text.startswith("-}}", pos):
            pos += 3
            while pos < len(text) and text[pos] in _SPACE:
                pos += 1
            return pos
        return pos + 2

    def _at_close(self, pos: int) -> int | None:
        """Where the closing delimiter (with its trim marker) starts, if one starts at ``pos``."""
        text = self.text
        if text.startswith("}}", pos):
            return pos
        if text.startswith("-}}", pos) and pos > 0 and text[pos - 1] in _SPACE:
            return pos
        return None

    def _action(self, start: int, pos: int) -> int:
        text = self.text
        probe = pos
        while probe < len(text) and text[probe] in _SPACE:
            probe += 1
        if text.startswith("/*", probe):
            end = text.find("*/", probe + 2)
            if end < 0:
                raise self.error(start, "unclosed comment")
            close = end + 2
            while close < len(text) and text[close] in _SPACE:
                close += 1
            if self._at_close(close) is None:
                raise self.error(start, "comment ends before closing delimiter")
            return self._after_close(close)
        self.tokens.append(Token("open", "{{", start, pos))
        while True:
            while pos < len(text) and text[pos] in _SPACE:
                pos += 1
            if pos >= len(text):
                raise self.error(start, "unclosed action")
            closing = self._at_close(pos)
            if closing is not None:
                self.tokens.append(Token("close", "}}", closing, closing))
                return self._after_close(closing)
            pos = self._token(pos)

    def _token(self, pos: int) -> int:
        text = self.text
        ch = text[pos]
        if ch == "(":
            return self._add("lparen", pos, pos + 1)
        if ch == ")":
            return self._add("rparen", pos, pos + 1)
        if ch == "|":
            return self._add("pipe", pos, pos + 1)
        if ch == ",":
            return self._add("comma", pos, pos + 1)
        if text.startswith(":=", pos):
            return self._add("declare", pos, pos + 2)
        if ch == "=":
            return self._add("assign", pos, pos + 1)
        if ch == '"':
            match = _STRING.match(text, pos)
            if not match:
                raise self.error(pos, "unterminated quoted string")
            return self._add("string", pos, match.end())
        if ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise self.error(pos, "unterminated raw quoted string")
            return self._add("rawstring", pos, end + 1)
        if ch == "'":
            match = _CHAR.match(text, pos)
            if not match:
                raise self.error(pos, "unterminated character constant")
            return self._add("char", pos, match.end())
        if ch == "$":
            match = _IDENT.match(text, pos + 1)
            return self._add("var", pos, match.end() if match else pos + 1)
        if ch == ".":
            match = _IDENT.match(text, pos + 1)
            if match:
                return self._add("field", pos, match.end())
            if pos + 1 < len(text) and text[pos + 1].isdigit():
                return self._number(pos)
            return self._add("dot", pos, pos + 1)
        if ch.isdigit() or (ch in "+-" and pos + 1 < len(text) and text[pos + 1].isdigit()):
            return self._number(pos)
        match = _IDENT.match(text, pos)
        if match:
            word = match.group()
            kind = "keyword" if word in KEYWORDS else "ident"
            if word in ("true", "false"):
                kind = "bool"
            elif word == "nil":
                kind = "nil"
            return self._add(kind, pos, match.end())
        raise self.error(pos, f"unexpected {ch!r} in action")

    def _number(self, pos: int) -> int:
        match = _NUMBER.match(self.text, pos)
        if not match or not match.group():
            raise self.error(pos, "bad number syntax")
        end = match.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "."):
            raise self.error(pos, f"bad number syntax: {self.text[pos : end + 1]!r}")
        return self._add("number", pos, end)

    def _add(self, kind: str, pos: int, end: int) -> int:
        self.tokens.append(Token(kind, self.text[pos:end], pos, end))
        return end


def tokenize(name: str, text: str) -> list[Token]:
    return Lexer(name, text).run()
