"""``manifests/examples/own-template``: an operator's template added beside the built-ins.

The example must build, change nothing but one ConfigMap key, and make ``injector serve``
(over TLS, reading the ConfigMap as the kubelet mounts it) apply the operator's template to
the pods that ask for it, and only to those.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from tests.deploy.util import DEMO_POD, MANIFESTS, Objects, mount, render
from tests.pki import Certs, make_certs
from tests.webhook.conftest import review_of, running_server

EXAMPLE = MANIFESTS / "examples" / "own-template"
OPT_IN = {"inject.istio.io/templates": "sidecar,spiffe"}


@pytest.fixture(scope="module")
def example() -> Objects:
    return Objects(render(EXAMPLE))


def _without_configmap(objects: Objects) -> list[dict[str, Any]]:
    return [d for d in objects.docs if d["kind"] != "ConfigMap"]


def test_it_is_the_install_plus_one_template_key(example: Objects, installed: Objects) -> None:
    assert _without_configmap(example) == _without_configmap(installed)
    data = example.one("ConfigMap", "sidecar-injector")["data"]
    shipped = installed.one("ConfigMap", "sidecar-injector")["data"]
    assert sorted(data) == ["mesh", "spiffe.yaml.j2", "values"]
    assert {k: data[k] for k in shipped} == shipped
    assert data["spiffe.yaml.j2"] == (EXAMPLE / "spiffe.yaml.j2").read_text()


def _injected(running: Any, pod: dict[str, Any]) -> dict[str, Any]:
    with running.client() as client:
        reply = client.post("/inject", json=review_of(pod, namespace="demo")).json()
    response = reply["response"]
    assert response["allowed"] is True, response
    patched: dict[str, Any] = jsonpatch.apply_patch(
        pod, json.loads(base64.b64decode(response["patch"]))
    )
    return patched


def _app(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "app")


def test_the_webhook_serving_it_applies_the_template_to_pods_that_ask(
    example: Objects, tmp_path: Path
) -> None:
    certs: Certs = make_certs(tmp_path / "tls")
    config = mount(example, tmp_path / "config")
    opted_in = copy.deepcopy(DEMO_POD)
    opted_in["metadata"]["annotations"] = dict(OPT_IN)
    with running_server(certs, "--config-dir", str(config), "--drain-seconds", "0") as running:
        spiffe = _injected(running, opted_in)
        plain = _injected(running, DEMO_POD)

    volumes = {v["name"]: v for v in spiffe["spec"]["volumes"]}
    assert volumes["spiffe-socket"]["csi"] == {"driver": "csi.spiffe.io", "readOnly": True}
    app = _app(spiffe)
    assert {"name": "SPIFFE_ENDPOINT_SOCKET", "value": "unix:///run/spiffe/agent.sock"} in app[
        "env"
    ]
    assert {"name": "spiffe-socket", "mountPath": "/run/spiffe", "readOnly": True} in app[
        "volumeMounts"
    ]
    # The built-in sidecar still comes first, with the shipped values deciding its image.
    proxy = next(c for c in spiffe["spec"]["initContainers"] if c["name"] == "istio-proxy")
    assert proxy["image"] == "docker.io/istio/proxyv2:1.28.1"

    assert "spiffe-socket" not in {v["name"] for v in plain["spec"]["volumes"]}
    assert "env" not in _app(plain)
    assert any(c["name"] == "istio-proxy" for c in plain["spec"]["initContainers"])
