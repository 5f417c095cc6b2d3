"""Two revisions side by side on the real API server: the default install and ``canary``.

Defect: the README promised ``istio.io/rev=REV`` but the shipped configuration only matched
the default revision. ``manifests/overlays/revision-canary`` installs a second webhook with
its own MutatingWebhookConfiguration, CA and config; the API server routes each pod to one.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.harness import (
    MANIFESTS,
    Cluster,
    container_names,
    create_pod,
    pod_body,
    run_check,
)
from tests.cluster.webhook import Webhook, point_webhooks_at

CANARY = "sidecar-injector-canary"
_names = itertools.count()


@pytest.fixture(scope="module")
def canary(
    webhook: Webhook, installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webhook]:
    installed.kubectl(
        "apply", "--server-side", "-k", str(MANIFESTS / "overlays" / "revision-canary")
    )
    replica = Webhook(
        installed, tmp_path_factory.mktemp("canary"), namespace=CANARY, webhook_config=CANARY
    )
    point_webhooks_at(installed, replica.url, name=CANARY)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()


def _status(pod: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    return status


def _revision(pod: dict[str, Any]) -> str:
    assert container_names(pod).count("istio-proxy") == 1, container_names(pod)
    assert _status(pod)["revision"] == pod["metadata"]["annotations"]["istio.io/rev"]
    return str(_status(pod)["revision"])


@pytest.mark.parametrize(
    ("namespace_labels", "pod_labels", "revision"),
    [
        ({"istio.io/rev": "canary"}, None, "canary"),
        ({"istio.io/rev": "default"}, None, "default"),
        ({"istio-injection": "enabled"}, None, "default"),
        ({}, {"istio.io/rev": "canary"}, "canary"),
        ({}, {"sidecar.istio.io/inject": "true"}, "default"),
    ],
    ids=["ns-canary", "ns-default", "ns-enabled", "pod-canary", "pod-inject"],
)
def test_each_pod_goes_to_its_revision(
    canary: Webhook,
    installed: Cluster,
    namespace_labels: dict[str, str],
    pod_labels: dict[str, str] | None,
    revision: str,
) -> None:
    namespace = installed.namespace(f"rev-{next(_names)}", namespace_labels)
    pod = create_pod(installed.core(), namespace, pod_body("p", labels=pod_labels))
    assert _revision(pod) == revision


def test_canary_proxies_talk_to_the_canary_control_plane(
    canary: Webhook, installed: Cluster
) -> None:
    namespace = installed.namespace("rev-canary-ca", {"istio.io/rev": "canary"})
    pod = create_pod(installed.core(), namespace, pod_body("p"))
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["CA_ADDR"] == "istiod-canary.istio-system.svc:15012"


def test_each_revision_has_its_own_ca(canary: Webhook, installed: Cluster) -> None:
    default = installed.get("secret", "sidecar-injector-ca", "-n", "sidecar-injector")
    other = installed.get("secret", "sidecar-injector-ca", "-n", CANARY)
    assert default["data"]["ca.crt"] != other["data"]["ca.crt"]


def test_a_revision_tag_routes_to_its_revision(canary: Webhook, installed: Cluster) -> None:
    """A tag is one more value in the revision's entries (the overlay's documented edit)."""
    hooks = installed.get("mutatingwebhookconfiguration", CANARY)["webhooks"]
    ops = []
    for i, hook in enumerate(hooks):
        for field_name in ("namespaceSelector", "objectSelector"):
            for j, expr in enumerate(hook[field_name].get("matchExpressions", [])):
                if expr["key"] == "istio.io/rev" and expr["operator"] == "In":
                    path = f"/webhooks/{i}/{field_name}/matchExpressions/{j}/values"
                    ops.append({"op": "replace", "path": path, "value": ["canary", "prod"]})
    assert len(ops) == 2
    installed.kubectl(
        "patch", "mutatingwebhookconfiguration", CANARY, "--type=json", "-p", json.dumps(ops)
    )
    namespace = installed.namespace("rev-tag-prod", {"istio.io/rev": "prod"})
    deadline = time.monotonic() + 10
    while True:  # the server's informer picks the edit up within a second or so
        pod = create_pod(installed.core(), namespace, pod_body(f"p-{next(_names)}"))
        if "sidecar.istio.io/status" in (pod["metadata"].get("annotations") or {}):
            break
        assert time.monotonic() < deadline, "a pod in an istio.io/rev=prod namespace not injected"
        time.sleep(0.1)
    assert _revision(pod) == "canary"


def test_check_names_the_revision_entry(
    canary: Webhook, installed: Cluster, tmp_path: Path
) -> None:
    namespace = installed.namespace("rev-check", {"istio.io/rev": "canary"})
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        json.dumps({**pod_body("p"), "metadata": {"name": "p", "namespace": namespace}})
    )
    result = run_check(manifest, "--kubeconfig", str(installed.kubeconfig))
    assert result.returncode == 0, result.stderr
    assert f"selected by webhook {CANARY}/rev.namespace.sidecar-injector.github.io" in result.stdout
