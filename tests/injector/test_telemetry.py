"""OpenTelemetry resource attributes and compliance env (``injector.telemetry``), as tables."""

from __future__ import annotations

import pytest

from injector import telemetry


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("fake.docker.io/google-samples/hello-go-gke:1.0", "1.0"),
        ("registry.example.com:5000/cart", ""),  # a registry port is not a tag
        ("registry.example.com:5000/cart:2.3", "2.3"),
        ("cart@sha256:abc", "sha256:abc"),
        ("nginx", ""),
    ],
)
def test_image_version(image: str, version: str) -> None:
    assert telemetry.image_version(image) == version


def test_attributes_need_one_app_container_for_the_image_version() -> None:
    two = [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]
    assert telemetry.resource_attributes("ns", {}, {}, two) == (
        "service.namespace=ns,service.instance.id=ns.$(POD_NAME).a"
    )
    proxy_first = [{"name": "istio-proxy", "image": "auto"}, {"name": "b", "image": "b:2"}]
    assert "service.version=2" in telemetry.resource_attributes("ns", {}, {}, proxy_first)


def test_annotations_win_and_separators_are_encoded() -> None:
    annotations = {
        "resource.opentelemetry.io/service.version": "1=2",
        "resource.opentelemetry.io/service.instance.id": "pod 7",
    }
    value = telemetry.resource_attributes("ns", {}, annotations, [{"name": "a", "image": "a:1"}])
    assert value == "service.namespace=ns,service.version=1%3D2,service.instance.id=pod%207"


@pytest.mark.parametrize(
    ("mesh", "enabled"),
    [
        ({}, False),
        ({"extensionProviders": [{"name": "z", "zipkin": {"service": "z"}}]}, False),
        ({"extensionProviders": [{"name": "o", "opentelemetry": {"service": "o"}}]}, False),
        (
            {
                "extensionProviders": [
                    {
                        "name": "o",
                        "opentelemetry": {
                            "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"
                        },
                    }
                ]
            },
            True,
        ),
    ],
)
def test_semantic_conventions_switch(mesh: dict[str, object], enabled: bool) -> None:
    assert telemetry.semantic_conventions(mesh) is enabled


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"COMPLIANCE_POLICY": "pqc"}, {"COMPLIANCE_POLICY": "pqc"}),
        (
            {"COMPLIANCE_POLICY": "fips-140-3"},
            {"COMPLIANCE_POLICY": "fips-140-3", "GODEBUG": "fips140=only"},
        ),
    ],
)
def test_compliance_env(env: dict[str, str], expected: dict[str, str]) -> None:
    assert telemetry.compliance_env({"pilot": {"env": env}}) == expected
