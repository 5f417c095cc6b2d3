"""OpenShift UID ranges through the real API server: ``serve --namespace-watch`` and
``inject`` with a kubeconfig.

A replica with the namespace watch, authenticated as the shipped ServiceAccount (so the
shipped ClusterRole must allow listing and watching Namespaces), serves the webhook entries
for this module; pods are created through the API server, and the proxy must run as the top
of the namespace's ``openshift.io/sa.scc.uid-range``, following later changes of it.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.cluster.controlplane import child_env
from tests.cluster.harness import ROOT, Cluster, create_pod, deployment, pod_body
from tests.cluster.webhook import Webhook, insecure, point_webhooks_at

UID_RANGE = "openshift.io/sa.scc.uid-range"
GROUPS = "openshift.io/sa.scc.supplemental-groups"
_names = itertools.count()


@pytest.fixture(scope="module")
def watching(webhook: Webhook, installed: Cluster, tmp_path_factory: Any) -> Iterator[Webhook]:
    directory: Path = tmp_path_factory.mktemp("openshift")
    replica = Webhook(installed, directory, extra=("--namespace-watch",))
    replica.start()
    point_webhooks_at(installed, replica.url)
    try:
        yield replica
    finally:
        point_webhooks_at(installed, webhook.url)
        replica.stop()


def _namespace(cluster: Cluster, annotations: dict[str, str]) -> str:
    name = cluster.namespace(f"scc-{next(_names)}", {"istio-injection": "enabled"})
    pairs = [f"{k}={v}" for k, v in annotations.items()]
    cluster.kubectl("annotate", "--overwrite", "namespace", name, *pairs)
    return name


def _proxy_ids(pod: dict[str, Any]) -> tuple[int, int]:
    spec = pod["spec"]
    proxy = next(c for c in spec["initContainers"] if c["name"] == "istio-proxy")
    context = proxy["securityContext"]
    return int(context["runAsUser"]), int(context["runAsGroup"])


def _ids_of_new_pod(cluster: Cluster, namespace: str) -> tuple[int, int]:
    return _proxy_ids(create_pod(cluster.core(), namespace, pod_body(f"p-{next(_names)}")))


def test_readyz_reports_the_namespace_watch(watching: Webhook) -> None:
    reply = httpx.get(watching.url + "/readyz", verify=insecure(), timeout=5)
    assert reply.status_code == 200
    assert reply.json()["namespaces"]["ready"] is True


def test_proxy_runs_as_the_top_of_the_namespace_range(
    watching: Webhook, installed: Cluster
) -> None:
    namespace = _namespace(installed, {UID_RANGE: "1000620000/10000", GROUPS: "1000620000/10000"})
    deadline = time.monotonic() + 10
    while (ids := _ids_of_new_pod(installed, namespace)) == (1337, 1337):
        assert time.monotonic() < deadline, "the watch never delivered the namespace"
        time.sleep(0.1)
    assert ids == (1000629999, 1000629999)


def test_a_changed_range_applies_to_the_next_pod(watching: Webhook, installed: Cluster) -> None:
    namespace = _namespace(installed, {UID_RANGE: "1000700000/10000"})
    deadline = time.monotonic() + 10
    while _ids_of_new_pod(installed, namespace) != (1000709999, 1000709999):
        assert time.monotonic() < deadline, "the range never arrived"
        time.sleep(0.1)
    installed.kubectl(
        "annotate", "--overwrite", "namespace", namespace,
        f"{UID_RANGE}=1000800000/5000", f"{GROUPS}=5000/100,6000/100",
    )  # fmt: skip
    while _ids_of_new_pod(installed, namespace) != (1000804999, 5099):
        assert time.monotonic() < deadline, "the change never arrived"
        time.sleep(0.1)
    installed.kubectl("annotate", "namespace", namespace, f"{UID_RANGE}-", f"{GROUPS}-")
    while _ids_of_new_pod(installed, namespace) != (1337, 1337):
        assert time.monotonic() < deadline, "the removal never arrived"
        time.sleep(0.1)


def test_without_the_watch_the_range_is_not_known(
    webhook: Webhook, watching: Webhook, installed: Cluster
) -> None:
    namespace = _namespace(installed, {UID_RANGE: "1000900000/10000"})
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u1", "namespace": namespace, "operation": "CREATE",
                    "object": pod_body("direct")},
    }  # fmt: skip
    deadline = time.monotonic() + 10
    while _uid_in_answer(watching.review(body)) != 1000909999:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _uid_in_answer(webhook.review(body)) == 1337  # the session replica: no watch


def _uid_in_answer(review: dict[str, Any]) -> int:
    ops = json.loads(base64.b64decode(review["response"]["patch"]))
    for op in ops:
        values = op["value"] if isinstance(op.get("value"), list) else [op.get("value")]
        for container in values:
            if isinstance(container, dict) and container.get("name") == "istio-proxy":
                return int(container["securityContext"]["runAsUser"])
    raise AssertionError("no istio-proxy in the patch")


def test_sigterm_exits_within_the_budget_with_the_namespace_watch_open(
    webhook: Webhook, installed: Cluster, tmp_path: Path
) -> None:
    drain, shutdown = 0.5, 1.0
    flags = (
        "--namespace-watch",
        "--drain-seconds",
        str(drain),
        "--shutdown-timeout",
        str(shutdown),
    )
    replica = Webhook(installed, tmp_path, extra=flags)
    replica.start()  # ready: the namespaces are listed, the watch is open
    took = replica.stop()
    assert replica.process is not None and replica.process.returncode == 0, replica.tail()
    assert took <= drain + shutdown + 1.0, replica.tail()


def _inject(manifest: Path, *flags: str, **env: str) -> tuple[dict[str, int], str, int]:
    """``injector inject`` as a user runs it: proxy UID by Deployment name, stderr, exit."""
    argv = [sys.executable, "-m", "injector", "inject", "-f", str(manifest), *flags]
    environment = child_env(PYTHONPATH=str(ROOT), **env)
    if "KUBECONFIG" not in env:
        environment.pop("KUBECONFIG", None)
    result = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, env=environment, timeout=60
    )
    uids = {}
    for doc in yaml.safe_load_all(result.stdout) if result.returncode == 0 else ():
        spec = doc["spec"]["template"]["spec"]
        proxy = next(c for c in spec["initContainers"] if c["name"] == "istio-proxy")
        uids[doc["metadata"]["name"]] = proxy["securityContext"]["runAsUser"]
    return uids, result.stderr, result.returncode


@pytest.fixture(scope="module")
def manifest(installed: Cluster, tmp_path_factory: Any) -> Path:
    ranged = _namespace(installed, {UID_RANGE: "1000500000/10000"})
    plain = installed.namespace(f"plain-{next(_names)}")
    path: Path = tmp_path_factory.mktemp("inject") / "apps.yaml"
    docs = [deployment("ranged", ranged), deployment("plain", plain),
            deployment("missing", "no-such-namespace")]  # fmt: skip
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_inject_reads_the_range_with_a_kubeconfig(installed: Cluster, manifest: Path) -> None:
    uids, stderr, code = _inject(manifest, "--kubeconfig", str(installed.kubeconfig))
    assert code == 0, stderr
    assert uids == {"ranged": 1000509999, "plain": 1337, "missing": 1337}
    uids, _, _ = _inject(manifest, KUBECONFIG=str(installed.kubeconfig))
    assert uids["ranged"] == 1000509999


def test_inject_offline_or_by_flag(installed: Cluster, manifest: Path) -> None:
    uids, _, _ = _inject(manifest, "--offline", KUBECONFIG=str(installed.kubeconfig))
    assert uids == {"ranged": 1337, "plain": 1337, "missing": 1337}
    flag = f"{UID_RANGE}=4000/10"
    uids, _, _ = _inject(
        manifest, "--namespace-annotation", flag, KUBECONFIG=str(installed.kubeconfig)
    )
    assert uids == {"ranged": 4009, "plain": 4009, "missing": 4009}  # the flag wins


def test_inject_with_an_unreachable_cluster_is_one_line(
    installed: Cluster, manifest: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text(
        installed.kubeconfig.read_text().replace(installed.plane.url, "https://127.0.0.1:1")
    )
    uids, stderr, code = _inject(manifest, "--kubeconfig", str(broken))
    assert code == 1 and not uids
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "namespace" in stderr and "--offline" in stderr, stderr


def test_the_list_reads_every_page(installed: Cluster) -> None:
    from injector.webhook.namespaces import NamespaceApi

    names = [_namespace(installed, {UID_RANGE: f"{7000 + i * 10}/10"}) for i in range(5)]
    entries, version = NamespaceApi(installed.api_client(), page_size=2).list()
    assert int(version) > 0
    for i, name in enumerate(names):
        assert entries[name] == {UID_RANGE: f"{7000 + i * 10}/10"}
    assert not any(name.startswith("plain-") for name in entries)  # nothing kept for those
