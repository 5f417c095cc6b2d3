"""An existing Istio install's ``istio-sidecar-injector`` ConfigMap, used as it is.

Its ``config`` key holds Istio's layout (``policy``, selectors, ``injectedAnnotations``, the
legacy ``template`` key Istio fills with a deliberately undefined function, ``defaultTemplates``
and ``templates`` of Go text with no marker); its ``values`` key is JSON. Both reach us
through ``injector inject --config/--values`` and through ``serve --config-dir`` over the
mounted ConfigMap. The template is our Go copy of the ``sidecar`` logic, so the pods must
equal what our built-in Jinja template gives for the same values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from injector.cli import main
from injector.core import Injector
from injector.gotemplate import GoTemplate
from injector.manifests import transform
from injector.webhook.reload import ConfigFiles
from tests.gotemplate.helpers import GO_SIDECAR
from tests.gotemplate.test_equivalence import _env_sorted
from tests.injector.helpers import ISTIO, ISTIO_VALUES, load_docs

PODS = ("hello.yaml", "multi-container.yaml", "resource_annotations.yaml")


def istio_template() -> str:
    """The Go sidecar as an Istio ConfigMap holds it: no ``# syntax`` marker, no comments."""
    lines = GO_SIDECAR.read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#"))


def istio_config(sidecar: str) -> str:
    return yaml.safe_dump(
        {
            "policy": "enabled",
            "alwaysInjectSelector": [],
            "neverInjectSelector": [],
            "injectedAnnotations": {},
            "template": "{{ Template_Version_And_Istio_Version_Mismatched_Check_Installation }}",
            "defaultTemplates": ["sidecar"],
            "templates": {"sidecar": sidecar},
        },
        default_style=None,
        width=1000,
    )


def istio_values() -> str:
    """``values`` as Istio's chart writes it: pretty JSON, with keys we do not read."""
    values: dict[str, Any] = yaml.safe_load(ISTIO_VALUES)
    values["global"]["omitSidecarInjectorConfigMap"] = False
    values["sidecarInjectorWebhook"] = {"enableNamespacesByDefault": False, "templates": {}}
    return json.dumps(values, indent=2)


@pytest.fixture
def install(tmp_path: Path) -> Path:
    (tmp_path / "config").write_text(istio_config(istio_template()))
    (tmp_path / "values").write_text(istio_values())
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], pod: str, *flags: str) -> Any:
    assert main(["inject", "-f", str(ISTIO / pod), *flags]) == 0
    return _env_sorted(load_docs(capsys.readouterr().out))


@pytest.mark.parametrize("pod", PODS)
def test_inject_with_an_istio_configmap_as_is(
    install: Path, capsys: pytest.CaptureFixture[str], pod: str
) -> None:
    values = ["--values", str(install / "values")]
    ours = run(capsys, pod, *values)
    theirs = run(capsys, pod, "--config", str(install / "config"), *values)
    assert theirs == ours


def test_config_dir_over_the_mounted_configmap(install: Path) -> None:
    files = ConfigFiles(install)
    config = files.build(files.read())
    assert isinstance(config.templates["sidecar"], GoTemplate)
    assert config.default_templates == ("sidecar",)
    pod = (ISTIO / "hello.yaml").read_text()
    injected = load_docs(transform(pod, Injector(config)).text)
    containers = injected[0]["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in containers] == ["istio-init", "istio-proxy"]


def test_a_broken_template_in_the_configmap_is_one_line_naming_its_place(
    install: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = istio_template().replace("{{- if $cni }}", "{{- if $cni }", 1)
    (install / "config").write_text(istio_config(broken))
    code = main(["inject", "-f", str(ISTIO / "hello.yaml"), "--config", str(install / "config")])
    err = capsys.readouterr().err
    assert code == 1
    assert "template 'sidecar' (Go syntax): template: sidecar:" in err
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_function_in_the_configmap_names_it(
    install: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = istio_template().replace("| quote", "| quoted", 1)
    (install / "config").write_text(istio_config(text))
    assert main(["inject", "-f", str(ISTIO / "hello.yaml"), "--config", str(install / "config")])
    assert 'function "quoted" not defined' in capsys.readouterr().err


def test_the_configmap_template_is_the_one_used(
    install: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guard against a vacuous pass: a change in the ConfigMap's template shows in the pod."""
    changed = istio_template().replace("http-envoy-prom", "from-configmap")
    (install / "config").write_text(istio_config(changed))
    out = run(capsys, "hello.yaml", "--config", str(install / "config"))
    assert "from-configmap" in json.dumps(out)


def test_an_unknown_field_denies_the_pod_naming_it(
    install: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = istio_template().replace(".ObjectMeta.Labels", ".ObjectMeta.Lables", 1)
    (install / "config").write_text(istio_config(text))
    assert main(["inject", "-f", str(ISTIO / "hello.yaml"), "--config", str(install / "config")])
    err = capsys.readouterr().err
    assert "template 'sidecar' failed to render: template: sidecar:" in err
    assert "can't evaluate field Lables in type v1.ObjectMeta" in err
