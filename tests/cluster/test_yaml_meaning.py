"""The Kubernetes column of the YAML meanings, read by kubectl and a real API server.

``tests/injector/test_yaml_meaning.py`` pins what each of our paths makes of a plain scalar;
its Kubernetes column is checked here: a string is kept as written in a ConfigMap's data, a
boolean or a number is refused there and accepted in a field of that type. What we write
(``yamltext``) reads back as the string we meant, and so does ``injector inject``'s output for
a workload named ``n`` (which written plain is ``false`` to kubectl).

Defect: ``injector inject`` wrote ``value: n`` and ``canonical-name: y`` unquoted, which
kubectl refuses (a boolean where a string belongs).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from injector import yamltext
from tests.cluster.controlplane import child_env
from tests.cluster.harness import ROOT, Cluster
from tests.injector.test_yaml_meaning import IDS, MEANINGS


def _create(cluster: Cluster, document: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=document, check=False
    )


def _config_map(value: str, *, flow: bool = False) -> str:
    data = f"{{v: {value}}}" if flow else f"\n  v: {value}"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m}}\ndata: {data}\n"


def _deployment(field: str, value: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        f"  {field}: {value}\n"
        "  selector: {matchLabels: {app: d}}\n"
        "  template:\n    metadata: {labels: {app: d}}\n"
        "    spec: {containers: [{name: app, image: app}]}\n"
    )


@pytest.mark.parametrize(("text", "kubernetes", "_"), MEANINGS, ids=IDS)
def test_kubernetes_reads_plain_scalars_as_the_table_says(
    cluster: Cluster, text: str, kubernetes: Any, _: Any
) -> None:
    as_data = _create(cluster, _config_map(text))
    if isinstance(kubernetes, str) or kubernetes is None:
        assert as_data.returncode == 0, as_data.stderr
        kept = json.loads(as_data.stdout)["data"]["v"]
        assert kept == ("" if kubernetes is None else kubernetes)  # null: the empty string
        return
    assert as_data.returncode != 0, as_data.stdout  # not a string (.inf: not even JSON)
    if isinstance(kubernetes, bool):
        typed = _create(cluster, _deployment("paused", text))
        assert typed.returncode == 0, typed.stderr
        assert json.loads(typed.stdout)["spec"].get("paused", False) is kubernetes
    elif math.isfinite(kubernetes) and kubernetes == int(kubernetes) >= 0:
        typed = _create(cluster, _deployment("revisionHistoryLimit", text))  # an int32
        assert typed.returncode == 0, typed.stderr
        assert json.loads(typed.stdout)["spec"]["revisionHistoryLimit"] == kubernetes


@pytest.mark.parametrize("text", IDS)
def test_a_string_we_write_is_that_string_to_kubernetes(cluster: Cluster, text: str) -> None:
    for document in (
        _config_map(yamltext.scalar(text)),
        _config_map(yamltext.flow_scalar(text), flow=True),
    ):
        created = _create(cluster, document)
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["data"]["v"] == text


WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: "n"}
spec:
  selector: {matchLabels: {app: "n"}}
  template:
    metadata:
      labels: {app: "n", version: "y"}
    spec:
      containers:
      - name: "n"
        image: app
"""


def test_injected_output_for_a_workload_named_n_is_accepted(cluster: Cluster) -> None:
    injected = subprocess.run(
        [sys.executable, "-m", "injector", "inject", "-f", "-"],
        input=WORKLOAD,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=child_env(),
    ).stdout
    created = _create(cluster, injected)
    assert created.returncode == 0, created.stderr
    template = json.loads(created.stdout)["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert labels["service.istio.io/canonical-name"] == "n"
    assert labels["service.istio.io/canonical-revision"] == "y"
    annotations = template["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/default-container"] == "n"
