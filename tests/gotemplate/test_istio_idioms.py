# ruff: noqa: E501  (rows are templates written as Istio writes them, on one line)
"""Expressions Istio's own templates are written with, over the data the injector gives them.

Users' templates (and Istio's ``sidecar``, ``gateway``, ``grpc-*``) read the pod through
Istio's ``SidecarTemplateData``: Kubernetes structs, protobuf messages whose absent fields
are Go zero values, and the values map. Each row is an idiom and what istiod prints for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from injector.config import load_config
from injector.gotemplate import ExecError, compile_template
from tests.gotemplate.helpers import template_data

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-7d4b9c-x2x",
        "generateName": "web-7d4b9c-",
        "namespace": "shop",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
        "annotations": {
            "sidecar.istio.io/proxyCPU": "250m",
            "sidecar.istio.io/userVolume": '{"extra": {"emptyDir": {}}}',
        },
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c",
                "controller": True,
            }
        ],
    },
    "spec": {
        "serviceAccountName": "web",
        "containers": [
            {"name": "app", "image": "web:1", "ports": [{"containerPort": 8080, "name": "http"}]},
            {"name": "metrics", "image": "m:1", "ports": [{"containerPort": 9090}]},
        ],
    },
}
MESH = "defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: 'true'\n"

IDIOMS: list[tuple[str, str, str]] = [
    ("enum zero value", "{{ .ProxyConfig.InterceptionMode }}", "REDIRECT"),
    ("enum String", "{{ .ProxyConfig.InterceptionMode.String }}", "REDIRECT"),
    (
        "annotation with a message default",
        "{{ annotation .ObjectMeta `sidecar.istio.io/interceptionMode` .ProxyConfig.InterceptionMode }}",
        "REDIRECT",
    ),
    (
        "or over an absent annotation",
        "{{ or (index .ObjectMeta.Annotations `sidecar.istio.io/interceptionMode`) .ProxyConfig.InterceptionMode.String }}",
        "REDIRECT",
    ),
    (
        "annotation present",
        "{{ annotation .ObjectMeta `sidecar.istio.io/proxyCPU` `100m` }}",
        "250m",
    ),
    ("isset", "{{ isset .ObjectMeta.Annotations `sidecar.istio.io/proxyCPU` }}", "true"),
    ("label", '{{ index .ObjectMeta.Labels "app" }}.{{ .ObjectMeta.Namespace }}', "web.shop"),
    ("absent label is empty", '{{ if ne "" (index .ObjectMeta.Labels "version") }}x{{ end }}', ""),
    ("native sidecars as text", '{{ printf "%t" .NativeSidecars }}', "true"),
    (
        "native sidecar annotation or default",
        '{{ index .ObjectMeta.Annotations `sidecar.istio.io/nativeSidecar` | default (printf "%t" .NativeSidecars) }}',
        "true",
    ),
    (
        "owner",
        "{{ .TypeMeta.APIVersion }}/{{ toLower .TypeMeta.Kind }}s/{{ .DeploymentMeta.Name }}",
        "apps/v1/deployments/web",
    ),
    ("deployment namespace", "{{ valueOrDefault .DeploymentMeta.Namespace `default` }}", "shop"),
    (
        "container ports",
        "{{ range $i, $c := .Spec.Containers }}{{ range $j, $p := $c.Ports }}{{ structToJSON $p }};{{ end }}{{ end }}",
        '{"name":"http","containerPort":8080};{"containerPort":9090};',
    ),
    (
        "app containers",
        "{{ range $index, $container := .Spec.Containers }}{{ if ne $index 0 }},{{ end }}{{ $container.Name }}{{ end }}",
        "app,metrics",
    ),
    ("service account", "{{ .Spec.ServiceAccountName }}", "web"),
    ("proxy metadata", "{{ .ProxyConfig.ProxyMetadata.ISTIO_META_DNS_CAPTURE }}", "true"),
    (
        "absent metadata key",
        "[{{ index .ProxyConfig.ProxyMetadata `ISTIO_META_ENABLE_HBONE` }}]",
        "[]",
    ),
    (
        "range over proxy metadata",
        "{{ range $key, $value := .ProxyConfig.ProxyMetadata }}{{ $key }}={{ $value }}{{ end }}",
        "ISTIO_META_DNS_CAPTURE=true",
    ),
    (
        "nil message getters",
        "[{{ directory .ProxyConfig.GetTracing.GetTlsSettings.GetCaCertificates }}]",
        "[]",
    ),
    ("mesh default config", "[{{ .MeshConfig.DefaultConfig.DiscoveryAddress }}]", "[]"),
    ("absent duration", "{{ formatDuration .ProxyConfig.TerminationDrainDuration }}", "0s"),
    (
        "values",
        "{{ .Values.global.proxy.statusPort }} {{ .Values.global.sts.servicePort }}",
        "15020 0",
    ),
    ("absent value", "{{ .Values.global.proxy.notAKey }}", "<no value>"),
    (
        "if over an absent value",
        "{{ if .Values.global.notAKey.deeper }}x{{ else }}none{{ end }}",
        "none",
    ),
    (
        "values default",
        "{{ valueOrDefault .Values.global.proxy.excludeOutboundPorts `` }}|{{ .Values.global.imagePullPolicy | default `Always` }}",
        "|Always",
    ),
    (
        "toYaml | indent",
        "resources:\n  {{ toYaml .Values.global.proxy.resources | indent 2 }}",
        "resources:\n  limits:\n    cpu: 2000m\n    memory: 1024Mi\n  requests:\n    cpu: 100m\n    memory: 128Mi\n  ",
    ),
    (
        "user volume from JSON",
        '{{ range $index, $value := fromJSON (index .ObjectMeta.Annotations `sidecar.istio.io/userVolume`) }}- name: "{{ $index }}"\n  {{ toYaml $value | indent 2 }}{{ end }}',
        '- name: "extra"\n  emptyDir: {}\n  ',
    ),
    ("proxy ids", "{{ .ProxyUID }}:{{ .ProxyGID }}", "1337:1337"),
    ("revision", '{{ .Revision | default "default" }}', "default"),
    ("inbound policy", "{{ .InboundTrafficPolicyMode }}", "passthrough"),
]


@pytest.fixture(scope="module")
def data() -> Any:
    return template_data(POD, load_config(mesh_text=MESH))


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in IDIOMS], ids=[c[0] for c in IDIOMS])
def test_istio_idioms(data: Any, text: str, expected: str) -> None:
    assert compile_template("t", text).execute(data) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .ObjectMeta.Nmae }}", "can't evaluate field Nmae in type v1.ObjectMeta"),
        (
            "{{ (index .Spec.Containers 0).Imagee }}",
            "can't evaluate field Imagee in type v1.Container",
        ),
        ("{{ .Revison }}", "can't evaluate field Revison in type inject.SidecarTemplateData"),
    ],
)
def test_misspelt_fields_fail_naming_them(data: Any, text: str, message: str) -> None:
    with pytest.raises(ExecError, match=message):
        compile_template("t", text).execute(data)
