"""``manifests/overlays/revision-canary``: a second revision that shares nothing it must not.

The API server behaviour (routing, CA, RBAC) is tested in tests/cluster/test_revisions.py;
this checks the rendered objects offline.
"""

from __future__ import annotations

import yaml

from tests.deploy.util import BASE, MANIFESTS, Objects, container_args, render

OVERLAY = MANIFESTS / "overlays" / "revision-canary"
CANARY = "sidecar-injector-canary"


def test_values_and_mesh_are_the_base_plus_the_revision() -> None:
    base_values = yaml.safe_load((BASE / "config" / "values.yaml").read_text())
    values = yaml.safe_load((OVERLAY / "values.yaml").read_text())
    assert values == {**base_values, "revision": "canary"}
    base_mesh = yaml.safe_load((BASE / "config" / "mesh.yaml").read_text())
    mesh = yaml.safe_load((OVERLAY / "mesh.yaml").read_text())
    base_mesh["defaultConfig"]["discoveryAddress"] = "istiod-canary.istio-system.svc:15012"
    assert mesh == base_mesh


def test_every_object_is_its_own(installed: Objects) -> None:
    canary = Objects(render(OVERLAY))
    for doc in canary.docs:
        meta = doc["metadata"]
        if "namespace" in meta:
            assert meta["namespace"] == CANARY, doc["kind"]
    cluster_scoped = {
        (d["kind"], d["metadata"]["name"]) for d in canary.docs if "namespace" not in d["metadata"]
    }
    default_scoped = {
        (d["kind"], d["metadata"]["name"])
        for d in installed.docs
        if "namespace" not in d["metadata"]
    }
    assert not cluster_scoped & default_scoped, "a cluster-scoped object would be shared"
    for binding in canary.all("RoleBinding") + canary.all("ClusterRoleBinding"):
        assert {s["namespace"] for s in binding["subjects"]} == {CANARY}
    role = canary.one("ClusterRole", CANARY)
    assert role["rules"][0]["resourceNames"] == [CANARY]
    deployment = canary.one("Deployment")
    args = container_args(deployment["spec"]["template"]["spec"]["containers"][0])
    assert args["--webhook-config-name"] == CANARY


def test_only_the_revision_entries_select_only_the_revision() -> None:
    mwc = Objects(render(OVERLAY)).one("MutatingWebhookConfiguration", CANARY)
    names = [h["name"] for h in mwc["webhooks"]]
    assert names == [
        "rev.namespace.sidecar-injector.github.io",
        "rev.object.sidecar-injector.github.io",
    ]
    for hook in mwc["webhooks"]:
        assert hook["clientConfig"]["service"]["namespace"] == CANARY
        exprs = (
            hook["namespaceSelector"]["matchExpressions"]
            + hook["objectSelector"]["matchExpressions"]
        )
        rev = [e for e in exprs if e["key"] == "istio.io/rev" and e["operator"] == "In"]
        assert [e["values"] for e in rev] == [["canary"]]
        excluded = next(e for e in exprs if e["key"] == "kubernetes.io/metadata.name")
        assert CANARY in excluded["values"]
