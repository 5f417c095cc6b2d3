"""Fixtures for tests against a real control plane, started once per session.

Every test here is marked ``cluster`` (see ``tests/conftest.py``): without the binaries it
is skipped with a one-line hint, or fails under ``SIDECAR_REQUIRE_ROOT_TESTS=1``.

- ``cluster``: a ``Cluster`` (etcd + kube-apiserver) with an admin kubeconfig and helpers;
- ``controller_manager``: the same cluster with kube-controller-manager running;
- ``installed``: ``kubectl apply -k manifests/`` applied once, server-side;
- ``webhook``: one replica of ``injector serve --self-managed-certs`` outside the cluster,
  the webhook entries pointed at it by URL, ready (its caBundle is live).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import MANIFESTS, Cluster, running_cluster
from tests.cluster.webhook import Webhook, point_webhooks_at


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as started:
        yield started


@pytest.fixture(scope="session")
def controller_manager(cluster: Cluster) -> Cluster:
    cluster.plane.start_controller_manager()
    return cluster


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Cluster:
    """The shipped install, applied server-side (the Namespace first, as a user would)."""
    cluster.kubectl("apply", "--server-side", "-k", str(MANIFESTS))
    return cluster


@pytest.fixture(scope="session")
def webhook(installed: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    replica = Webhook(installed, tmp_path_factory.mktemp("webhook"))
    point_webhooks_at(installed, replica.url)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()
