"""The MutatingWebhookConfiguration: its entries' settings and caBundle, and the fail-open
overlay (which pods the entries select: test_webhook_selection.py)."""

from __future__ import annotations

import argparse
import base64
import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from certs import cabundle, generate, kube
from certs.errors import ClusterAccessError
from injector.webhook import server, tls
from tests.deploy.util import (
    DOMAIN,
    EXCLUDED_NAMESPACES,
    NAMESPACE,
    NAMESPACE_HOOK,
    OBJECT_HOOK,
    REV_NAMESPACE_HOOK,
    REV_OBJECT_HOOK,
    SERVICE,
    WEBHOOK_CONFIG,
    Objects,
)
from tests.fakekube import MWCS, SECRETS, FakeKube


def _hooks(objects: Objects) -> list[dict[str, Any]]:
    return list(objects.one("MutatingWebhookConfiguration", WEBHOOK_CONFIG)["webhooks"])


def test_four_entries_with_unique_names_and_a_common_suffix(installed: Objects) -> None:
    names = [h["name"] for h in _hooks(installed)]
    assert sorted(names) == sorted(
        [NAMESPACE_HOOK, OBJECT_HOOK, REV_NAMESPACE_HOOK, REV_OBJECT_HOOK]
    )
    assert all(n.endswith(f".{DOMAIN}") for n in names)


def _served_source(
    installed: Objects, fake: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> tls.ManagedSource:
    """What `injector serve` builds from the Deployment's args, talking to ``fake``."""
    deployment = installed.one("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    namespace = deployment["metadata"]["namespace"]
    argv = [a.replace("$(POD_NAMESPACE)", namespace) for a in container["args"][1:]]
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    monkeypatch.setattr(kube, "make_api_client", lambda kubeconfig=None: fake.api_client())
    source = server.tls_source(parser.parse_args(argv))
    assert isinstance(source, tls.ManagedSource)
    return source


def _live_bundles(fake: FakeKube) -> dict[str, bytes]:
    live = fake.get(MWCS, WEBHOOK_CONFIG)
    assert live is not None
    return {
        h["name"]: base64.b64decode(h["clientConfig"].get("caBundle", "")) for h in live["webhooks"]
    }


def test_serve_fills_the_cabundle_of_every_rendered_entry(
    installed: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Deployment's args, through `serve`'s own code, name this MWC and patch all of it."""
    names = [h["name"] for h in _hooks(installed)]
    with FakeKube() as fake:
        fake.put(MWCS, installed.one("MutatingWebhookConfiguration", WEBHOOK_CONFIG))
        manager = _served_source(installed, fake, monkeypatch).manager
        manager.reconcile_now()  # NotFoundError if the args named another MWC
        ca_secret = fake.get(SECRETS, manager.settings.secret_name, NAMESPACE)
        assert ca_secret is not None
        ca_crt = base64.b64decode(ca_secret["data"]["ca.crt"])
        assert _live_bundles(fake) == dict.fromkeys(names, ca_crt)
        ready, why = manager.ready()
        assert ready, why


def test_webhook_names_limit_the_patched_entries(
    installed: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = generate.make_ca(generate.utcnow(), timedelta(days=1)).cert_pem
    with FakeKube() as fake:
        fake.put(MWCS, installed.one("MutatingWebhookConfiguration", WEBHOOK_CONFIG))
        settings = _served_source(installed, fake, monkeypatch).manager.settings
        api = kube.KubeApi(fake.api_client())
        ours = (NAMESPACE_HOOK, REV_OBJECT_HOOK)
        cabundle.reconcile(api, replace(settings, webhook_names=ours).target, bundle)
        patched = {n for n, b in _live_bundles(fake).items() if b}
        assert patched == set(ours)
        with pytest.raises(ClusterAccessError, match="no webhook entry named missing.example"):
            target = replace(settings, webhook_names=("missing.example",)).target
            cabundle.reconcile(api, target, bundle)


@pytest.mark.parametrize("index", range(4))
def test_entry_settings(installed: Objects, index: int) -> None:
    hook = _hooks(installed)[index]
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["reinvocationPolicy"] == "Never"
    assert hook["timeoutSeconds"] == 5
    assert hook["failurePolicy"] == "Fail"
    assert hook["matchPolicy"] == "Equivalent"
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["clientConfig"] == {
        "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443, "path": "/inject"}
    }
    assert "caBundle" not in hook["clientConfig"]  # the webhook fills it in
    assert "url" not in hook["clientConfig"]
    exclusion = [
        e
        for e in hook["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    ]
    assert len(exclusion) == 1
    assert exclusion[0]["operator"] == "NotIn"
    assert set(exclusion[0]["values"]) == EXCLUDED_NAMESPACES
    # Mirror pods are skipped by the API server itself.
    (condition,) = hook["matchConditions"]
    assert "kubernetes.io/config.mirror" in condition["expression"]


def test_webhook_config_label(installed: Objects) -> None:
    meta = installed.one("MutatingWebhookConfiguration")["metadata"]
    assert meta["labels"]["app.kubernetes.io/name"] == "sidecar-injector"


# the fail-open overlay ------------------------------------------------------------------


def test_fail_open_flips_every_failure_policy_and_nothing_else(
    installed: Objects, fail_open: Objects
) -> None:
    expected = copy.deepcopy(installed.docs)
    for doc in expected:
        if doc["kind"] == "MutatingWebhookConfiguration":
            for hook in doc["webhooks"]:
                assert hook["failurePolicy"] == "Fail"
                hook["failurePolicy"] = "Ignore"
    assert fail_open.docs == expected
    assert all(h["failurePolicy"] == "Ignore" for h in _hooks(fail_open))
