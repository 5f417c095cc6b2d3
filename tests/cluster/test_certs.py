"""Self-managed certificates against the real API server, with the shipped RBAC.

The ``webhook`` fixture's replica runs with ``--extra-dns-name localhost --extra-ip
127.0.0.1``: the API server reaches it by URL, so every injected pod in these tests also
proves that the leaf names that host.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from kubernetes.client.exceptions import ApiException

from tests.cluster.harness import NAMESPACE, Cluster, container_names, create_pod, pod_body
from tests.cluster.webhook import MWC, SECRET, Webhook


def _secret_ca(cluster: Cluster) -> bytes:
    return base64.b64decode(cluster.get("secret", SECRET, "-n", NAMESPACE)["data"]["ca.crt"])


def _bundles(cluster: Cluster) -> list[str]:
    hooks = cluster.get("mutatingwebhookconfiguration", MWC)["webhooks"]
    return [h["clientConfig"].get("caBundle", "") for h in hooks]


def _served_leaf(port: int, ca_pem: bytes, host: str) -> x509.Certificate:
    """The leaf served on ``port``, verified against ``ca_pem`` for ``host``."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_ca_secret_created_and_cabundle_filled(webhook: Webhook, installed: Cluster) -> None:
    ca = _secret_ca(installed)
    assert b"BEGIN CERTIFICATE" in ca
    assert all(base64.b64decode(b) == ca for b in _bundles(installed))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_leaf_names_the_extra_host(webhook: Webhook, installed: Cluster, host: str) -> None:
    leaf = _served_leaf(webhook.port, _secret_ca(installed), host)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "sidecar-injector.sidecar-injector.svc" in sans.get_values_for_type(x509.DNSName)


def test_clobbered_cabundle_is_repaired(webhook: Webhook, installed: Cluster) -> None:
    good = _bundles(installed)
    ops = [
        {"op": "replace", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": ""}
        for i in range(len(good))
    ]
    installed.kubectl("patch", "mutatingwebhookconfiguration", MWC, "--type=json",
                      "-p", json.dumps(ops))  # fmt: skip
    started = time.monotonic()
    while _bundles(installed) != good:
        assert time.monotonic() - started < 10, "caBundle not repaired within 10 s"
        time.sleep(0.05)
    print(f"caBundle repaired after {time.monotonic() - started:.2f} s")


def test_second_replica_serves_a_leaf_the_secret_ca_verifies(
    webhook: Webhook, installed: Cluster, tmp_path: Path
) -> None:
    before = _secret_ca(installed)
    second = Webhook(installed, tmp_path)
    second.start()
    try:
        leaf = _served_leaf(second.port, _secret_ca(installed), "localhost")
        first = _served_leaf(webhook.port, _secret_ca(installed), "localhost")
        assert leaf.serial_number != first.serial_number  # its own leaf, the shared CA
    finally:
        second.stop()
    assert _secret_ca(installed) == before


def _create(core: Any, namespace: str, name: str) -> dict[str, Any] | ApiException:
    try:
        return create_pod(core, namespace, pod_body(name))
    except ApiException as exc:
        return exc


def test_webhook_down_fails_selected_namespaces_only_and_restart_adopts_the_secret(
    webhook: Webhook, installed: Cluster
) -> None:
    core = installed.core()
    selected = installed.namespace("down-enabled", {"istio-injection": "enabled"})
    plain = installed.namespace("down-plain")
    ca = _secret_ca(installed)
    webhook.stop()
    try:
        refused = _create(core, selected, "refused")
        assert isinstance(refused, ApiException), "created without its sidecar"
        assert "failed calling webhook" in (refused.body or "")
        allowed = _create(core, plain, "allowed")
        assert isinstance(allowed, dict)
        assert container_names(allowed) == ["app"]
    finally:
        webhook.start()
    assert _secret_ca(installed) == ca  # adopted, not replaced
    pod = _create(core, selected, "after-restart")
    assert isinstance(pod, dict)
    assert container_names(pod)[:2] == ["istio-init", "istio-proxy"]
