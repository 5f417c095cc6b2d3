"""The Go template engine, table-driven like Go's own ``text/template`` tests.

Each row: template text, the data it runs over, and the exact output Go's ``text/template``
(with Sprig and Istio's functions) prints for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from injector.gotemplate import ExecError, TemplateSyntaxError, compile_template
from injector.gotemplate.data import OBJECT_META
from injector.gotemplate.values import Struct

DATA: dict[str, Any] = {
    "s": "hello",
    "n": 3,
    "f": 1.5,
    "t": True,
    "z": 0,
    "empty": "",
    "null": None,
    "list": [1, 2, 3],
    "none": [],
    "m": {"b": 2, "a": 1, "c": {"d": "deep"}},
    "nomap": {},
    "words": ["x", "y"],
    "meta": Struct(OBJECT_META, {"name": "web", "annotations": {"k": "v"}}),
}

CASES: list[tuple[str, str, str]] = [
    # text, printing, literals
    ("text", "plain text", "plain text"),
    ("dot field", "{{.s}}", "hello"),
    ("int", "{{.n}}", "3"),
    ("float", "{{.f}}", "1.5"),
    ("big float", "{{1e6}} {{1000000.0}} {{0.00001}}", "1e+06 1e+06 1e-05"),
    ("bool", "{{.t}} {{false}}", "true false"),
    ("string literal", '{{"a\\tb"}}', "a\tb"),
    ("raw string", "{{`a\\tb`}}", "a\\tb"),
    ("char", "{{'a'}}", "97"),
    ("hex", "{{0x1F}} {{0o17}} {{017}} {{1_000}}", "31 15 15 1000"),
    ("negative", "{{-3}}", "-3"),
    ("list", "{{.list}}", "[1 2 3]"),
    ("map prints sorted", "{{.m}}", "map[a:1 b:2 c:map[d:deep]]"),
    ("missing key", "{{.missing}}", "<no value>"),
    ("field of missing", "{{.missing.deeper}}", "<no value>"),
    ("null value", "{{.null}}", "<no value>"),
    ("print null", "{{print .null}}", "<nil>"),
    ("nested", "{{.m.c.d}}", "deep"),
    ("dollar", "{{range .words}}{{$.s}}{{end}}", "hellohello"),
    # trim markers and comments
    ("trim both", "a  {{- .s -}}  b", "ahellob"),
    ("trim newlines", "a\n\n{{- .s }}\n", "ahello\n"),
    ("trim right", "{{ .s -}}\n\n  b", "hellob"),
    ("comment", "a {{/* note */}} b", "a  b"),
    ("trimmed comment", "a {{- /* note */ -}} b", "ab"),
    ("multi-line comment", "a{{/* x\ny */}}b", "ab"),
    ("minus is a number", "{{-3 }}", "-3"),
    # if / else if / else
    ("if true", "{{if .t}}yes{{end}}", "yes"),
    ("if missing", "{{if .missing}}yes{{else}}no{{end}}", "no"),
    ("if zero", "{{if .z}}yes{{else}}no{{end}}", "no"),
    ("if empty list", "{{if .none}}yes{{else}}no{{end}}", "no"),
    ("if empty map", "{{if .nomap}}yes{{else}}no{{end}}", "no"),
    ("if struct", "{{if .meta}}yes{{end}}", "yes"),
    ("else if", "{{if .z}}a{{else if .n}}b{{else}}c{{end}}", "b"),
    ("else if chain", "{{if .z}}a{{else if .empty}}b{{else if .none}}c{{else}}d{{end}}", "d"),
    # range
    ("range list", "{{range .list}}<{{.}}>{{end}}", "<1><2><3>"),
    ("range index", "{{range $i, $v := .words}}{{$i}}={{$v}} {{end}}", "0=x 1=y "),
    ("range value var", "{{range $v := .words}}{{$v}}{{end}}", "xy"),
    ("range map sorted", "{{range $k, $v := .m}}{{$k}}{{end}}", "abc"),
    ("range else", "{{range .none}}x{{else}}empty{{end}}", "empty"),
    ("range missing", "{{range .missing}}x{{else}}nothing{{end}}", "nothing"),
    ("range int", "{{range 3}}{{.}}{{end}}", "012"),
    ("break", "{{range .list}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}", "1"),
    ("continue", "{{range .list}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}", "13"),
    # with
    ("with", "{{with .m.c}}{{.d}}{{end}}", "deep"),
    ("with else", "{{with .missing}}x{{else}}none{{end}}", "none"),
    ("with else with", "{{with .empty}}a{{else with .s}}{{.}}{{end}}", "hello"),
    ("with keeps dot in else", "{{with .z}}x{{else}}{{.s}}{{end}}", "hello"),
    # variables
    ("declare", "{{$x := .s}}{{$x}}", "hello"),
    ("assign in block", "{{$x := 1}}{{if .t}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("shadow in block", "{{$x := 1}}{{if .t}}{{$x := 2}}{{end}}{{$x}}", "1"),
    ("assign in range", "{{$n := 0}}{{range .list}}{{$n = .}}{{end}}{{$n}}", "3"),
    ("variable field", "{{$m := .m}}{{$m.c.d}}", "deep"),
    # pipelines, parentheses
    ("pipe last arg", '{{.s | printf "%s-%s" "x"}}', "x-hello"),
    ("paren", '{{(index .m "c").d}}', "deep"),
    ("paren pipeline", '{{printf "%d" (len .list)}}', "3"),
    # define / template / block
    ("define", '{{define "T"}}[{{.}}]{{end}}{{template "T" .s}}', "[hello]"),
    ("template no arg", '{{define "T"}}{{.}}{{end}}{{template "T"}}', "<no value>"),
    ("block", '{{block "B" .n}}n={{.}}{{end}}', "n=3"),
    ("define of the main's name", '{{define "t"}}inner{{end}}\n', "inner"),
    ("empty redefinition", '{{define "T"}}x{{end}}{{define "T"}} {{end}}{{template "T"}}', "x"),
    (
        "template in range",
        '{{define "T"}}{{.}},{{end}}{{range .words}}{{template "T" .}}{{end}}',
        "x,y,",
    ),
    # builtins
    ("and", "{{and 1 0 2}} {{and 1 2}}", "0 2"),
    ("or", '{{or 0 "" "x"}} {{or 0 ""}}', "x "),
    ("and short-circuits", '{{and .z (fail "no")}}', "0"),
    ("or short-circuits", '{{or .t (fail "no")}}', "true"),
    ("not", "{{not 0}} {{not .s}}", "true false"),
    ("eq", '{{eq 1 1}} {{eq .s "x" "hello"}} {{eq .s "x"}}', "true true false"),
    ("eq nil", "{{eq .null nil}} {{eq .s nil}}", "true false"),
    ("ne", '{{ne .s "x"}}', "true"),
    ("order", '{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', "true true true false"),
    ("index", '{{index .m "a"}} {{index .list 1}} {{index .m "c" "d"}}', "1 2 deep"),
    ("index missing", '{{index .m "zz"}}', "<no value>"),
    ("index strmap missing", '{{index .meta.Annotations "zz"}}|', "|"),
    ("len", "{{len .s}} {{len .list}} {{len .m}}", "5 3 3"),
    ("slice", "{{slice .list 1}} {{slice .s 1 3}}", "[2 3] el"),
    ("print", '{{print 1 2}} {{print "a" 1 "b"}}', "1 2 a1b"),
    ("println", "{{println 1 2}}", "1 2\n"),
    (
        "printf",
        '{{printf "%d|%5s|%-3s|%q|%v|%t|%x" 7 "ab" "c" "q" .list true 255}}',
        '7|   ab|c  |"q"|[1 2 3]|true|ff',
    ),
    ("printf missing arg", '{{printf "%s %s" "a"}}', "a %!s(MISSING)"),
    ("html", '{{html "<a href=\\"x\\">"}}', "&lt;a href=&#34;x&#34;&gt;"),
    ("urlquery", '{{urlquery "a b&c"}}', "a+b%26c"),
    # struct views
    ("struct field", "{{.meta.Name}}", "web"),
    ("struct absent field is zero", "{{.meta.Namespace}}|{{len .meta.Labels}}", "|0"),
    ("strmap", '{{index .meta.Annotations "k"}}', "v"),
    ("getter", "{{.meta.GetName}}", "web"),
    # Sprig
    ("default", '{{.missing | default "d"}} {{.s | default "d"}} {{default "d" .z}}', "d hello d"),
    ("empty", "{{empty .none}} {{empty .list}}", "true false"),
    ("quote", "{{quote .s}} {{.n | quote}}", '"hello" "3"'),
    ("squote", "{{squote .s}}", "'hello'"),
    ("upper lower title", '{{upper .s}} {{lower "AB"}} {{title "a b"}}', "HELLO ab A B"),
    ("trim", '{{trim "  a "}}|{{trimPrefix "he" .s}}|{{trimSuffix "lo" .s}}', "a|llo|hel"),
    ("replace", '{{replace "l" "L" .s}}', "heLLo"),
    ("split join", '{{splitList "," "a,b" | join "+"}}', "a+b"),
    (
        "list funcs",
        "{{append (list 1 2) 3 | len}} {{prepend (list 1) 0}} {{concat (list 1) (list 2)}}",
        "3 [0 1] [1 2]",
    ),
    (
        "first last",
        "{{first .list}} {{last .list}} {{rest .list}} {{initial .list}}",
        "1 3 [2 3] [1 2]",
    ),
    ("has", "{{has 2 .list}} {{has 9 .list}}", "true false"),
    ("dict", '{{$d := dict "a" 1 "b" "x"}}{{$d.a}}{{$d.b}}', "1x"),
    ("set", '{{$d := dict}}{{$_ := set $d "k" "v"}}{{$d.k}}', "v"),
    ("hasKey", '{{hasKey .m "a"}} {{hasKey .m "q"}}', "true false"),
    ("keys sorted", "{{keys .m | sortAlpha}}", "[a b c]"),
    ("ternary", '{{ternary "y" "n" .t}}', "y"),
    ("coalesce", "{{coalesce .empty .z .s}}", "hello"),
    ("toString", '{{toString 3 | printf "%q"}}', '"3"'),
    (
        "int",
        '{{int "42"}} {{add 1 2}} {{sub 5 2}} {{mul 2 3}} {{div 7 2}} {{mod 7 2}}',
        "42 3 3 6 3 1",
    ),
    ("regex", '{{regexReplaceAll "l+" .s "L"}} {{regexMatch "^h" .s}}', "heLo true"),
    ("trunc", "{{trunc 2 .s}}", "he"),
    ("b64", '{{b64enc "hi"}} {{b64dec "aGk="}}', "aGk= hi"),
    ("toJson", "{{toJson .m}}", '{"a":1,"b":2,"c":{"d":"deep"}}'),
    ("nindent", '{{"a\\nb" | nindent 2}}', "\n  a\n  b"),
    ("sprig-style indent is replaced by Istio's", '{{"a\\nb" | indent 2}}', "a\n  b"),
    # Istio's functions
    (
        "annotation",
        '{{annotation .meta "k" "d"}} {{annotation .meta "q" "d"}} {{annotation .meta "q" 5}}',
        "v d 5",
    ),
    ("isset", '{{isset .meta.Annotations "k"}} {{isset .meta.Annotations "q"}}', "true false"),
    ("valueOrDefault", '{{valueOrDefault .empty "d"}} {{valueOrDefault .s "d"}}', "d hello"),
    ("toJSON", "{{toJSON .meta.Annotations}} {{toJSON .null}}", '{"k":"v"} {}'),
    ("fromJSON", '{{(fromJSON "{\\"a\\": [1]}").a}}', "[1]"),
    ("contains haystack first", '{{contains .s "ell"}} {{contains "ell" .s}}', "true false"),
    ("toLower", '{{toLower "AbC"}}', "abc"),
    (
        "directory",
        '{{directory "/etc/certs/ca.pem"}}|{{directory "ca.pem"}}|{{directory ""}}',
        "/etc/certs/||",
    ),
    (
        "excludeInboundPort",
        '{{excludeInboundPort 15020 "80,81"}} {{excludeInboundPort "15020" ""}}',
        "80,81,15020 15020",
    ),
    ("strdict", '{{$d := strdict "a" "b"}}{{$d.a}}', "b"),
    ("omit", '{{omit .m "a" "c"}}', "map[b:2]"),
    ("formatDuration", '{{formatDuration "90s"}} {{formatDuration "0.5s"}}', "1m30s 500ms"),
    ("toYaml ends with a newline", "{{toYaml .m}}", "a: 1\nb: 2\nc:\n  d: deep\n"),
    ("toYaml list", "{{toYaml .words}}", "- x\n- y\n"),
    (
        "toYaml multi-line text",
        '{{toYaml (dict "sh" "a\\nb" "end" "c\\n")}}',
        "end: |\n  c\nsh: |-\n  a\n  b\n",
    ),
    (
        "toYaml scalars",
        '{{toYaml 1}} {{toYaml "x"}} {{toYaml .null}} {{toYaml .nomap}} {{toYaml .none}}',
        "1\n x\n null\n {}\n []\n",
    ),
    ("toYaml of a map in a list", "{{toYaml (list .m.c)}}", "- d: deep\n"),
    ("toYaml indent", "x:\n  {{toYaml .m.c | indent 2}}", "x:\n  d: deep\n  "),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_renders_as_go_does(text: str, expected: str) -> None:
    assert compile_template("t", text).execute(DATA) == expected


# Text that does not parse: refused when the config loads, naming template, line and column.
SYNTAX_ERRORS: list[tuple[str, str, str]] = [
    ("unknown function", "x\n  {{nofunc 1}}", 't:2:5: function "nofunc" not defined'),
    ("undefined variable", "{{$x}}", 't:1:3: undefined variable "$x"'),
    (
        "variable out of scope",
        "{{with $x := .s}}{{$x}}{{end}}{{$x}}",
        't:1:33: undefined variable "$x"',
    ),
    (
        "variable of the caller",
        '{{$x := 1}}{{define "T"}}{{$x}}{{end}}',
        't:1:28: undefined variable "$x"',
    ),
    ("if without end", "a\n{{if .t}}x", "t:2:3: unexpected EOF: {{if}} has no {{end}}"),
    ("stray end", "{{end}}", "t:1:3: unexpected {{end}}"),
    ("stray else", "{{else}}", "t:1:3: unexpected {{else}}"),
    ("empty if", "{{if}}{{end}}", "t:1:5: missing value for if"),
    ("unclosed action", "ok\n{{ .s ", "t:2:1: unclosed action"),
    ("unclosed comment", "{{/* x", "t:1:1: unclosed comment"),
    ("unterminated string", '{{ "abc }}', "t:1:4: unterminated quoted string"),
    ("bad number", "{{ 3x }}", "t:1:4: bad number syntax: '3x'"),
    ("bad character", "{{ @ }}", "t:1:4: unexpected '@' in action"),
    ("no such template", '{{template "nope"}}', 't:1:3: no such template "nope"'),
    ("break outside range", "{{break}}", "t:1:3: {{break}} outside {{range}}"),
    ("literal in pipeline", "{{1 | 2}}", "t:1:7: non executable command in pipeline stage: 2"),
    ("field with arguments", "{{.s 1}}", "t:1:3: .s has arguments but is not a function"),
    (
        "range declarations",
        "{{range $a, $b, $c := .list}}{{end}}",
        "t:1:11: too many declarations in range",
    ),
    (
        "defined twice",
        '{{define "T"}}a{{end}}\n{{define "T"}}b{{end}}',
        't:2:3: multiple definition of template "T"',
    ),
    (
        "define of the main's name",
        '{{define "t"}}a{{end}}main',
        't:1:1: multiple definition of template "t"',
    ),
    (
        "define inside if",
        '{{if .t}}{{define "x"}}{{end}}{{end}}',
        "t:1:12: {{define}} is only allowed at the top level",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in SYNTAX_ERRORS], ids=[c[0] for c in SYNTAX_ERRORS]
)
def test_syntax_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template("t", text)
    assert str(caught.value) == f"template: {message}"


# Text that parses but fails on the data: Go's ``executing "t" at <...>: ...`` wording.
EXEC_ERRORS: list[tuple[str, str, str]] = [
    (
        "field of a string",
        "{{.s.x}}",
        't:1:3: executing "t" at <.s.x>: can\'t evaluate field x in type string',
    ),
    (
        "unknown struct field",
        "\n {{.meta.Bogus}}",
        't:2:4: executing "t" at <.meta.Bogus>: can\'t evaluate field Bogus in type v1.ObjectMeta',
    ),
    (
        "field of nil",
        "{{.null.x}}",
        't:1:3: executing "t" at <.null.x>: nil pointer evaluating interface {}.x',
    ),
    (
        "field of a list",
        "{{.list.x}}",
        't:1:3: executing "t" at <.list.x>: can\'t evaluate field x in type []interface {}',
    ),
    (
        "range over a string",
        "{{range .s}}{{end}}",
        't:1:3: executing "t" at <.s>: range can\'t iterate over hello',
    ),
    (
        "index out of range",
        "{{index .list 5}}",
        't:1:3: executing "t" at <index .list 5>: error calling index: index out of range: 5',
    ),
    (
        "incomparable",
        '{{eq 1 "a"}}',
        't:1:3: executing "t" at <eq 1 "a">: error calling eq: incompatible types for comparison',
    ),
    (
        "len of int",
        "{{len 3}}",
        't:1:3: executing "t" at <len 3>: error calling len: len of type int',
    ),
    (
        "too few args",
        "{{printf}}",
        't:1:3: executing "t" at <printf>: wrong number of args for printf: want at least 1 got 0',
    ),
    (
        "too many args",
        "{{toYaml 1 2}}",
        't:1:3: executing "t" at <toYaml 1 2>: wrong number of args for toYaml: want 1 got 2',
    ),
    (
        "piped arg counts",
        "{{1 | toLower 2}}",
        't:1:7: executing "t" at <1 | toLower 2>: wrong number of args for toLower: want 1 got 2',
    ),
    ("fail", '{{fail "boom"}}', 't:1:3: executing "t" at <fail "boom">: error calling fail: boom'),
    (
        "divide by zero",
        "{{div 1 0}}",
        't:1:3: executing "t" at <div 1 0>: error calling div: integer divide by zero',
    ),
    (
        "assign undeclared",
        "{{$x := 1}}{{$y = 2}}",
        't:1:14: executing "t" at <$y = 2>: undefined variable: $y',
    ),
    (
        "recursion",
        '{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}',
        't:1:17: template "a" nests too deep',
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in EXEC_ERRORS], ids=[c[0] for c in EXEC_ERRORS]
)
def test_execution_errors_name_line_column_and_action(text: str, message: str) -> None:
    program = compile_template("t", text)
    with pytest.raises(ExecError) as caught:
        program.execute(DATA)
    assert str(caught.value) == f"template: {message}"


def test_unexecuted_bad_calls_do_not_fail() -> None:
    """As in Go, an argument count is checked when the call runs, not when it parses."""
    assert compile_template("t", "{{if .z}}{{printf}}{{end}}ok").execute(DATA) == "ok"


def test_text_is_data_never_code() -> None:
    """Templates become Python source: any text, string or name must stay a value."""
    text = "\"'''\\n'); raise SystemExit(2) #\n{{ \"'); raise SystemExit(3) #\\\\\" }}"
    assert compile_template("t", text).execute(DATA) == (
        "\"'''\\n'); raise SystemExit(2) #\n'); raise SystemExit(3) #\\"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{{if true}}" * 400 + "x" + "{{end}}" * 400,
        "{{if true}}" * 120 + "x" + "{{end}}" * 120,
        "{{range .list}}" * 30 + "x" + "{{end}}" * 30,
        "{{print " + "(print " * 500 + "1" + ")" * 500 + "}}",
    ],
    ids=["400 ifs", "120 ifs", "30 ranges", "500 parentheses"],
)
def test_deep_nesting_is_a_clean_error(text: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="template nests too deeply"):
        compile_template("t", text)


def test_ordinary_nesting_works() -> None:
    text = "{{if true}}" * 60 + "{{range $.words}}" * 5 + "x" + "{{end}}" * 65
    assert compile_template("t", text).execute(DATA) == "x" * 32


def test_istio_port_lists_skip_udp_and_sctp() -> None:
    containers = [
        {"name": "app", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]},
        {"name": "istio-proxy", "ports": [{"containerPort": 15090, "protocol": "TCP"}]},
        {"name": "x", "ports": [{"containerPort": 9, "protocol": "SCTP"}]},
    ]
    text = "{{includeInboundPorts .c}} {{applicationPorts .c}}"
    assert compile_template("t", text).execute({"c": containers}) == "80,15090 80"


def test_from_json_of_bad_json_is_the_text_braces() -> None:
    """As Istio's ``fromJSON``: bad JSON gives ``{}`` (text), so ranging over it fails."""
    assert compile_template("t", '{{fromJSON "{bad"}}').execute({}) == "{}"
    with pytest.raises(ExecError, match="range can't iterate over {}"):
        compile_template("t", '{{range fromJSON "{bad"}}{{end}}').execute({})
