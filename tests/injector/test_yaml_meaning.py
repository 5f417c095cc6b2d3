"""One meaning for a plain scalar, whichever path it takes (the table in ``injector.safeyaml``).

Everything users write (config documents, YAML annotations, manifests) is read as Kubernetes
reads YAML (go-yaml v2: ``y`` and ``on`` are booleans, ``1:20`` and dates are strings); a
template's own literal text is YAML 1.2. What the injector writes reads back as the same
string under every one of these readers. ``tests/cluster/test_yaml_meaning.py`` checks the
Kubernetes column against a real API server.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import pytest
import yaml
import yaml_rs

from injector import documents, mesh, roundtrip, safeyaml, template, yamltext
from injector.config import load_config
from injector.core import Injector
from injector.errors import ManifestError
from injector.manifests import transform

# plain text, as Kubernetes (and every path reading user YAML) reads it, as template text
MEANINGS: list[tuple[str, Any, Any]] = [
    ("on", True, "on"),
    ("yes", True, "yes"),
    ("Off", False, "Off"),
    ("no", False, "no"),
    ("y", True, "y"),
    ("N", False, "N"),
    ("true", True, True),
    ("0x1F", 31, 31),
    ("012", 10, 12),
    ("0o12", 10, 10),
    ("0b11", 3, 3),
    ("1_000", 1000, 1000),
    ("1e3", 1000.0, 1000.0),
    ("-.5", -0.5, -0.5),
    (".inf", math.inf, math.inf),
    ("1:20", "1:20", "1:20"),
    ("2020-01-01", "2020-01-01", "2020-01-01"),
    ("2020-01-01T10:00:00Z", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00Z"),
    ("=", "=", "="),
    ("~", None, None),
    ("null", None, None),
    ("15020", 15020, 15020),
    ("istio-proxy", "istio-proxy", "istio-proxy"),
]
IDS = [text for text, _, _ in MEANINGS]


def same(value: Any, expected: Any) -> bool:
    """Equal and of the same type (``True == 1`` and ``1 == 1.0`` do not count)."""
    return type(value) is type(expected) and value == expected


@pytest.mark.parametrize(("text", "kubernetes", "_"), MEANINGS, ids=IDS)
def test_config_documents_read_as_kubernetes(text: str, kubernetes: Any, _: Any) -> None:
    value = documents.load_mapping(f"v: {text}\n", "values", "values")["v"]
    assert same(value, kubernetes)


@pytest.mark.parametrize(("text", "kubernetes", "_"), MEANINGS, ids=IDS)
def test_yaml_annotations_read_as_kubernetes(text: str, kubernetes: Any, _: Any) -> None:
    config, _problems = mesh.parse_proxy_config(f"v: {text}")  # proxy.istio.io/config
    assert same(config["v"], kubernetes)


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
  labels:
    v: {text}
spec:
  containers: [{{name: app, image: app}}]
"""


@pytest.mark.parametrize(("text", "kubernetes", "_"), MEANINGS, ids=IDS)
def test_manifests_read_as_kubernetes(text: str, kubernetes: Any, _: Any) -> None:
    injector = Injector(load_config())
    if not isinstance(kubernetes, str):  # kubectl refuses a label that is not a string
        with pytest.raises(ManifestError, match="labels must map strings to strings"):
            transform(POD.format(text=text), injector, inject=False)
        return
    [report] = transform(POD.format(text=text), injector, inject=False).reports
    assert report.labels["v"] == kubernetes  # the text itself: never a date or 80 (1:20)


@pytest.mark.parametrize(("text", "_", "literal"), MEANINGS, ids=IDS)
def test_template_literal_text_is_yaml_1_2(text: str, _: Any, literal: Any) -> None:
    compiled = template.compile_template("t", f"v: {text}\n")
    assert same(template.render("t", compiled, {})["v"], literal)


def test_a_value_a_jinja_template_inserts_keeps_its_type() -> None:
    compiled = template.compile_template("t", "a: {{ a }}\nb: {{ b }}\nc: {{ c }}\n")
    rendered = template.render("t", compiled, {"a": "on", "b": "012", "c": True})
    assert rendered == {"a": "on", "b": "012", "c": True}


def _readers(text: str) -> list[Any]:
    """What each reader makes of the document ``v: <text>``."""
    document = f"v: {text}\n"
    yaml_1_2: Any = yaml_rs.loads(document, parse_datetime=False)
    return [
        safeyaml.load(document)["v"],  # as Kubernetes
        yaml.safe_load(document)["v"],  # YAML 1.1, as other tools
        yaml_1_2["v"],
    ]


@pytest.mark.parametrize("text", IDS)
def test_a_string_we_write_reads_back_as_itself_everywhere(text: str) -> None:
    for written in (yamltext.scalar(text), yamltext.flow_scalar(text)):
        assert _readers(written) == [text] * 3, written
    assert yamltext.needs_quotes(text) == (text != yamltext.scalar(text))


ALIASED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, labels: &labels {app: d}}
spec:
  template:
    metadata: {labels: *labels}
    spec:
      containers: []
"""


@pytest.mark.parametrize("text", IDS)
def test_a_string_the_round_trip_writes_reads_back_as_itself(text: str) -> None:
    add = {"op": "add", "path": "/spec/containers/-", "value": {"name": "c", "args": [text]}}
    written = roundtrip.reemit(ALIASED, [(("spec", "template"), [add])], 2)
    lines = written.splitlines()
    value = lines[lines.index("        args:") + 1].strip().removeprefix("- ")
    assert _readers(value) == [text] * 3, written


@pytest.mark.parametrize("name", ["values.yaml", "mesh.yaml"])
def test_the_built_in_defaults_mean_the_same_as_kubernetes_reads_them(name: str) -> None:
    text = resources.files("injector").joinpath("data", name).read_text()
    assert safeyaml.load(text) == yaml.safe_load(text)


def test_y_in_an_annotation_is_a_boolean_like_istio_reads_it() -> None:
    _config, problems = mesh.parse_proxy_config("proxyMetadata: {A: y}")
    assert problems == ["proxy.istio.io/config: proxyMetadata.A: expected a string, got True"]
