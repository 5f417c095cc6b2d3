"""Which entries of the shipped MutatingWebhookConfiguration a pod CREATE calls, as a real
kube-apiserver decides it: Istio's selection precedence, and never two entries at once.

The oracle is the API server itself, not our selector code. A fresh control plane gets the
rendered configuration with each entry's ``clientConfig`` pointed at a recording webhook
(``https://127.0.0.1:PORT/<entry name>``, everything else as shipped); every row of the
table creates a pod (``dryRun=All``) and reads which entries the server called.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.cluster.harness import Cluster, pod_body, running_cluster
from tests.deploy.util import (
    EXCLUDED_NAMESPACES,
    NAMESPACE_HOOK,
    OBJECT_HOOK,
    REV_NAMESPACE_HOOK,
    REV_OBJECT_HOOK,
    WEBHOOK_CONFIG,
    Objects,
)
from tests.pki import make_certs

pytestmark = pytest.mark.cluster

INJECT = "sidecar.istio.io/inject"
REV = "istio.io/rev"
LEGACY = "istio-injection"

# Istio's selection precedence, for a default-revision install, plus our exclusions.
PRECEDENCE = [
    # (namespace, namespace labels, pod labels, entry called or None)
    ("apps", {LEGACY: "enabled"}, {}, NAMESPACE_HOOK),
    ("apps", {LEGACY: "enabled"}, {INJECT: "true"}, NAMESPACE_HOOK),
    ("apps", {LEGACY: "enabled"}, {INJECT: "false"}, None),
    ("apps", {LEGACY: "disabled"}, {}, None),
    ("apps", {LEGACY: "true"}, {}, None),  # only the exact value `enabled` opts in
    ("apps", {LEGACY: ""}, {INJECT: "true"}, None),
    ("apps", {LEGACY: "disabled"}, {INJECT: "true"}, None),
    ("apps", {LEGACY: "disabled"}, {REV: "default"}, None),
    ("apps", {REV: "default"}, {}, REV_NAMESPACE_HOOK),
    ("apps", {REV: "default"}, {INJECT: "true"}, REV_NAMESPACE_HOOK),
    ("apps", {REV: "default"}, {INJECT: "false"}, None),
    ("apps", {REV: "canary"}, {}, None),  # another revision's webhook
    ("apps", {REV: "canary"}, {INJECT: "true"}, None),
    ("apps", {LEGACY: "enabled", REV: "canary"}, {}, NAMESPACE_HOOK),  # legacy label wins
    ("apps", {LEGACY: "enabled", REV: "default"}, {}, NAMESPACE_HOOK),
    ("apps", {}, {INJECT: "true"}, OBJECT_HOOK),
    ("apps", {}, {INJECT: "false"}, None),
    ("apps", {}, {INJECT: "yes"}, None),
    ("apps", {}, {REV: "default"}, REV_OBJECT_HOOK),
    ("apps", {}, {REV: "default", INJECT: "true"}, REV_OBJECT_HOOK),
    ("apps", {}, {REV: "default", INJECT: "false"}, None),
    ("apps", {}, {REV: "canary"}, None),
    ("apps", {}, {REV: "canary", INJECT: "true"}, None),
    ("apps", {}, {}, None),  # no enableNamespacesByDefault (`auto.` entry) in this install
    ("apps", {"team": "a"}, {"app": "web"}, None),
    ("apps", {LEGACY: "enabled"}, {"app": "web", "version": "v1"}, NAMESPACE_HOOK),
    ("apps", {REV: "default"}, {REV: "canary"}, REV_NAMESPACE_HOOK),  # namespace label first
] + [
    (ns, ns_labels, pod_labels, None)
    for ns in sorted(EXCLUDED_NAMESPACES)
    for ns_labels, pod_labels in [
        ({LEGACY: "enabled"}, {}),
        ({REV: "default"}, {}),
        ({}, {INJECT: "true"}),
        ({}, {REV: "default"}),
    ]
]


def _outside_exclusions(ns_labels: dict[str, str], pod_labels: dict[str, str]) -> str | None:
    """The table's answer for the same labels in a namespace that is not excluded."""
    (expected,) = [
        e for n, nl, pl, e in PRECEDENCE if n == "apps" and (nl, pl) == (ns_labels, pod_labels)
    ]
    return expected


@dataclass
class Recorder:
    """An HTTPS webhook that allows every pod and remembers which entry (path) was called."""

    certs_dir: Path
    calls: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer = field(init=False)
    thread: threading.Thread = field(init=False)

    def start(self) -> tuple[int, bytes]:
        certs = make_certs(self.certs_dir, names=("localhost",))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                pod = (request["namespace"], request["object"]["metadata"]["name"])
                with recorder.lock:
                    recorder.calls.setdefault(pod, []).append(urlsplit(self.path).path.lstrip("/"))
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": request["uid"], "allowed": True},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certs.cert), str(certs.key))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return int(self.server.server_address[1]), certs.ca.read_bytes()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def called(self, namespace: str, name: str) -> set[str]:
        with self.lock:
            return set(self.calls.get((namespace, name), []))


@dataclass
class Selection:
    cluster: Cluster
    recorder: Recorder
    core: Any
    pods: Iterator[int] = field(default_factory=itertools.count)

    def called(self, namespace: str, pod_labels: dict[str, str]) -> set[str]:
        """The entries the API server calls for a pod with ``pod_labels`` in ``namespace``."""
        name = f"p{next(self.pods)}"
        body = pod_body(name, labels=pod_labels)
        self.core.create_namespaced_pod(namespace, body, dry_run="All")
        return self.recorder.called(namespace, name)

    def called_when_settled(
        self, namespace: str, pod_labels: dict[str, str], expected: set[str]
    ) -> set[str]:
        """``called``, retried for a few seconds until it is ``expected`` (the server's
        namespace cache catching up with a relabel)."""
        for _ in range(50):
            called = self.called(namespace, pod_labels)
            if called == expected:
                break
            time.sleep(0.1)
        return called


@pytest.fixture(scope="module")
def selection(installed: Objects, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Selection]:
    recorder = Recorder(tmp_path_factory.mktemp("recorder"))
    port, ca = recorder.start()
    mwc = copy.deepcopy(installed.one("MutatingWebhookConfiguration", WEBHOOK_CONFIG))
    for hook in mwc["webhooks"]:
        hook["clientConfig"] = {
            "url": f"https://127.0.0.1:{port}/{hook['name']}",
            "caBundle": base64.b64encode(ca).decode(),
        }
    try:
        with running_cluster() as cluster:
            cluster.kubectl("create", "-f", "-", input=json.dumps(mwc))
            found = Selection(cluster, recorder, cluster.core())
            # The configuration is live once a selected pod reaches the recorder.
            cluster.namespace("warm-up", {LEGACY: "enabled"})
            assert found.called_when_settled("warm-up", {}, {NAMESPACE_HOOK}) == {NAMESPACE_HOOK}
            yield found
    finally:
        recorder.stop()


@pytest.mark.parametrize(("ns", "ns_labels", "pod_labels", "expected"), PRECEDENCE)
def test_selection_follows_istio_precedence(
    selection: Selection,
    ns: str,
    ns_labels: dict[str, str],
    pod_labels: dict[str, str],
    expected: str | None,
) -> None:
    cluster = selection.cluster
    if ns in EXCLUDED_NAMESPACES:
        # Relabelled in place (they exist, or must be named so): the server reads namespace
        # labels from a watch-fed cache, so relabel a twin afterwards and wait until the
        # twin selects as the table says; the same watch has then delivered this relabel.
        cluster.namespace(ns, ns_labels)
        cluster.namespace("twin", ns_labels)
        twin = _outside_exclusions(ns_labels, pod_labels)
        twin_expected = {twin} if twin else set()
        assert selection.called_when_settled("twin", pod_labels, twin_expected) == twin_expected
        namespace = ns
    else:
        namespace = cluster.namespace(f"apps-{next(selection.pods)}", ns_labels)
    called = selection.called(namespace, pod_labels)
    assert called == ({expected} if expected else set())


def test_entries_are_mutually_exclusive(selection: Selection) -> None:
    """Over every combination of the relevant labels, at most one entry is called: a pod is
    never injected twice in one admission pass."""
    choices = {
        LEGACY: [None, "enabled", "disabled"],
        REV: [None, "default", "canary"],
    }
    pod_choices = {INJECT: [None, "true", "false", "yes"], REV: [None, "default", "canary"]}

    def combos(options: dict[str, list[str | None]]) -> list[dict[str, str]]:
        keys = list(options)
        return [
            {k: v for k, v in zip(keys, values, strict=True) if v is not None}
            for values in itertools.product(*options.values())
        ]

    for i, ns_labels in enumerate(combos(choices)):
        namespace = selection.cluster.namespace(f"combo-{i}", ns_labels)
        for pod_labels in combos(pod_choices):
            called = selection.called(namespace, pod_labels)
            assert len(called) <= 1, (ns_labels, pod_labels, called)
