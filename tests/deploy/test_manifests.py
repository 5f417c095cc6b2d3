"""The kustomize install: schema validity, least-privilege RBAC, the Deployment's safety rules,
and the contract between the objects and the webhook's command line."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from injector import config as config_mod
from injector.config import load_config
from injector.core import Injected, Injector
from injector.webhook import server
from injector.webhook.reload import ConfigFiles, load_state
from tests.deploy.util import (
    BASE,
    DEMO_POD,
    IMAGE_REPO,
    INIT_DOCKERFILE,
    K8S_VERSION,
    NAMESPACE,
    SECRET,
    SERVICE,
    WEBHOOK_CONFIG,
    WEBHOOK_DOCKERFILE,
    WEBHOOK_PORT,
    Objects,
    container_args,
    image_of,
    mount,
    project_version,
)

EXPECTED_KINDS = sorted(
    [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
    ]
)
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"}


def _validate(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {where}: {exc.message}")


# the whole install ----------------------------------------------------------------------


def test_install_is_the_base(installed: Objects, base: Objects) -> None:
    assert installed.docs == base.docs


def test_renders_exactly_the_expected_objects(installed: Objects) -> None:
    assert sorted(d["kind"] for d in installed.docs) == EXPECTED_KINDS


@pytest.mark.parametrize("which", ["installed", "fail_open"])
def test_every_object_is_schema_valid(which: str, request: pytest.FixtureRequest) -> None:
    objects: Objects = request.getfixturevalue(which)
    for obj in objects.docs:
        _validate(obj)


def test_strict_validation_rejects_unknown_fields(installed: Objects) -> None:
    """Guards the guard: a misspelt field must not pass the schema test."""
    deployment = copy.deepcopy(installed.one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_namespaces_and_labels(installed: Objects) -> None:
    for obj in installed.docs:
        meta = obj["metadata"]
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, obj["kind"]
        else:
            assert meta["namespace"] == NAMESPACE, obj["kind"]
        assert meta["labels"]["app.kubernetes.io/name"] == "sidecar-injector", obj["kind"]
    ns = installed.one("Namespace")
    assert ns["metadata"]["name"] == NAMESPACE
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# RBAC -----------------------------------------------------------------------------------


def _rules(
    obj: dict[str, Any],
) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]]:
    return [
        (
            tuple(r.get("apiGroups", [])),
            tuple(r.get("resources", [])),
            tuple(r.get("resourceNames", [])),
            frozenset(r.get("verbs", [])),
        )
        for r in obj["rules"]
    ]


def test_rbac_objects_are_exactly_one_role_and_one_cluster_role(installed: Objects) -> None:
    assert len(installed.all("Role")) == 1
    assert len(installed.all("ClusterRole")) == 1
    assert len(installed.all("RoleBinding")) == 1
    assert len(installed.all("ClusterRoleBinding")) == 1


def test_role_grants_only_our_ca_secret(installed: Objects) -> None:
    role = installed.one("Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _rules(role) == [
        (("",), ("secrets",), (SECRET,), frozenset({"get", "list", "watch", "update"})),
        (("",), ("secrets",), (), frozenset({"create"})),
    ]


def test_cluster_role_grants_only_our_webhook_config_and_reading_namespaces(
    installed: Objects,
) -> None:
    assert _rules(installed.one("ClusterRole")) == [
        (
            ("admissionregistration.k8s.io",),
            ("mutatingwebhookconfigurations",),
            (WEBHOOK_CONFIG,),
            frozenset({"get", "list", "watch", "patch"}),
        ),
        (("",), ("namespaces",), (), frozenset({"list", "watch"})),
    ]


def test_no_wildcards_and_create_is_the_only_unrestricted_verb(installed: Objects) -> None:
    for role in installed.all("Role") + installed.all("ClusterRole"):
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), f"wildcard in {key}: {rule}"
            assert not any("/" in r for r in rule["resources"]), "no subresources"
            if not rule.get("resourceNames"):  # or the namespace watch, read-only
                allowed = [["create"]] + (
                    [["list", "watch"]] if rule["resources"] == ["namespaces"] else []
                )
                assert rule["verbs"] in allowed, f"unrestricted verbs: {rule}"


def test_bindings_bind_only_our_service_account(installed: Objects) -> None:
    sa = installed.one("ServiceAccount")
    assert sa["metadata"]["name"] == "sidecar-injector"
    for kind, role_kind in (("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")):
        binding = installed.one(kind)
        role = installed.one(role_kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "sidecar-injector", "namespace": NAMESPACE}
        ]


def test_rbac_names_match_the_webhook_arguments(installed: Objects) -> None:
    args = container_args(_container(installed))
    assert args["--secret-name"] == SECRET
    assert args["--webhook-config-name"] == WEBHOOK_CONFIG
    assert installed.one("MutatingWebhookConfiguration")["metadata"]["name"] == WEBHOOK_CONFIG


# Deployment -----------------------------------------------------------------------------


def _pod(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = objects.one("Deployment")["spec"]["template"]["spec"]
    return spec


def _container(objects: Objects) -> dict[str, Any]:
    containers: list[dict[str, Any]] = _pod(objects)["containers"]
    assert len(containers) == 1
    return containers[0]


def test_deployment_availability(installed: Objects) -> None:
    deployment = installed.one("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()

    pdb = installed.one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == selector

    spread = _pod(installed)["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in spread}
    assert "kubernetes.io/hostname" in keys
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"] == selector
        assert constraint["maxSkew"] == 1
        assert constraint["whenUnsatisfiable"] in ("ScheduleAnyway", "DoNotSchedule")
    assert "priorityClassName" not in _pod(installed)


def test_pod_security_is_restricted(installed: Objects) -> None:
    pod = _pod(installed)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is True  # it talks to the API server
    assert pod["serviceAccountName"] == "sidecar-injector"
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] > 0
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc.get("privileged", False) is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for volume in pod["volumes"]:
        assert "hostPath" not in volume


def test_writable_tmp_and_config_mount(installed: Objects) -> None:
    container, pod = _container(installed), _pod(installed)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = volumes[mounts["/tmp"]["name"]]
    assert tmp["emptyDir"]["medium"] == "Memory"  # key material stays off the node's disk
    config_dir = container_args(container)["--config-dir"]
    assert config_dir is not None
    mount = mounts[config_dir]
    assert mount["readOnly"] is True
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap updates
    assert (
        volumes[mount["name"]]["configMap"]["name"]
        == installed.one("ConfigMap")["metadata"]["name"]
    )


def test_command_line(installed: Objects) -> None:
    container = _container(installed)
    assert "command" not in container  # the image's ENTRYPOINT is `injector`
    assert container["args"][0] == "serve"
    args = container_args(container)
    assert args["--port"] == str(WEBHOOK_PORT)
    assert "--self-managed-certs" in args and args["--self-managed-certs"] is None
    assert args["--service-name"] == SERVICE
    assert args["--log-format"] == "json"
    assert args["--namespace"] == "$(POD_NAMESPACE)"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["https-webhook"]["containerPort"] == WEBHOOK_PORT


def test_command_line_is_accepted_by_injector_serve(installed: Objects) -> None:
    """Parse the Deployment's args with the real `injector serve` parser."""
    parser = argparse.ArgumentParser(prog="injector serve")
    server.add_arguments(parser)
    parsed = parser.parse_args(_container(installed)["args"][1:])
    assert parsed.port == WEBHOOK_PORT
    assert parsed.self_managed_certs is True


def test_probes(installed: Objects) -> None:
    container = _container(installed)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["scheme"] == "HTTPS", probe
        assert ports.get(get["port"], get["port"]) == WEBHOOK_PORT, probe
    # A liveness failure restarts the pod: it must be more tolerant than readiness.
    live, ready = container["livenessProbe"], container["readinessProbe"]
    assert (
        live["periodSeconds"] * live["failureThreshold"]
        > ready["periodSeconds"] * ready["failureThreshold"]
    )


def test_grace_period_covers_prestop_drain_and_shutdown(installed: Objects) -> None:
    container = _container(installed)
    args = container_args(container)
    drain = float(args["--drain-seconds"] or 0)
    shutdown = float(args["--shutdown-timeout"] or 0)
    assert drain > 0 and shutdown > 0
    pre_stop = container["lifecycle"]["preStop"]
    assert "exec" not in pre_stop  # the image need not have a shell or `sleep`
    sleep = pre_stop["sleep"]["seconds"]
    assert sleep > 0
    grace = _pod(installed)["terminationGracePeriodSeconds"]
    assert grace > sleep + drain + shutdown


def test_resources(installed: Objects) -> None:
    resources = _container(installed)["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"]
        assert kind in resources["limits"]


# Service --------------------------------------------------------------------------------


def test_service_maps_443_to_the_webhook_port(installed: Objects) -> None:
    service = installed.one("Service", SERVICE)
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "https-webhook", "port": 443, "targetPort": WEBHOOK_PORT, "protocol": "TCP"}
    ]
    pod_labels = installed.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # the webhook's clientConfig points here
    for hook in installed.one("MutatingWebhookConfiguration")["webhooks"]:
        assert hook["clientConfig"]["service"]["name"] == SERVICE
        assert hook["clientConfig"]["service"]["namespace"] == NAMESPACE
        assert hook["clientConfig"]["service"]["port"] == 443


def test_metrics_are_announced_on_the_webhook_port(installed: Objects) -> None:
    annotations = installed.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(WEBHOOK_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/scheme"] == "https"


# ConfigMap and images -------------------------------------------------------------------


def test_configmap_has_a_stable_name_and_only_values_and_mesh(installed: Objects) -> None:
    cm = installed.one("ConfigMap")
    assert cm["metadata"]["name"] == "sidecar-injector"  # no hash suffix: hot reload
    assert sorted(cm["data"]) == ["mesh", "values"]  # no template copies, no `config`
    values = yaml.safe_load(cm["data"]["values"])
    assert not values.get("sidecarInjectorWebhook", {}).get("templates")


def test_configmap_loads_with_the_injectors_own_loader(installed: Objects, tmp_path: Path) -> None:
    config = load_state(ConfigFiles(mount(installed, tmp_path))).config  # as `serve` reads it
    assert config.warnings == ()
    assert config.values["global"]["proxy_init"]["image"] == image_of(INIT_DOCKERFILE)
    assert set(config.templates) == set(config_mod.builtin_template_sources())  # none added


def test_a_new_image_serves_its_own_templates_under_the_shipped_configmap(
    installed: Objects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgrading the image alone upgrades the templates: the ConfigMap pins no copy of them,
    while its values still decide (here: the proxy image)."""
    built_in = config_mod.builtin_template_sources()
    upgraded = built_in["sidecar"].replace(
        "metadata:\n  labels:\n", 'metadata:\n  labels:\n    upgraded-template: "yes"\n', 1
    )
    assert upgraded != built_in["sidecar"]
    monkeypatch.setattr(
        config_mod, "builtin_template_sources", lambda: {**built_in, "sidecar": upgraded}
    )
    config = load_state(ConfigFiles(mount(installed, tmp_path))).config
    outcome = Injector(config).inject(DEMO_POD)
    assert isinstance(outcome, Injected)
    assert outcome.pod["metadata"]["labels"]["upgraded-template"] == "yes"
    proxy = {c["name"]: c for c in outcome.pod["spec"]["initContainers"]}["istio-proxy"]
    assert proxy["image"] == "docker.io/istio/proxyv2:1.28.1"  # from the shipped values


def test_images_match_what_the_dockerfiles_build(installed: Objects) -> None:
    version = project_version()
    assert image_of(WEBHOOK_DOCKERFILE) == f"{IMAGE_REPO}/injector:{version}"
    assert image_of(INIT_DOCKERFILE) == f"{IMAGE_REPO}/sidecar-init:{version}"
    assert _container(installed)["image"] == image_of(WEBHOOK_DOCKERFILE)

    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    images = {i["name"]: i for i in kustomization["images"]}
    assert images[f"{IMAGE_REPO}/injector"]["newTag"] == version


def test_injected_init_container_runs_our_image_with_args_it_accepts(installed: Objects) -> None:
    """The installed config makes the webhook inject an istio-init container that runs the
    init image, whose ENTRYPOINT `sidecar-init` must accept the rendered args."""
    from init.flags import parse_flags

    data = installed.one("ConfigMap")["data"]
    outcome = Injector(load_config(None, data["values"], data["mesh"])).inject(DEMO_POD)
    assert isinstance(outcome, Injected)
    init = {c["name"]: c for c in outcome.pod["spec"]["initContainers"]}["istio-init"]
    assert init["image"] == image_of(INIT_DOCKERFILE)
    assert "command" not in init
    assert init["args"][0] == "istio-iptables"
    parse_flags(init["args"], {})  # raises on a flag sidecar-init does not know
