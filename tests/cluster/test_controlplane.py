"""The control plane itself: the admin is a cluster admin, RBAC is enforced for others."""

from __future__ import annotations

from tests.cluster.harness import Cluster


def test_admin_can_do_anything(cluster: Cluster) -> None:
    out = cluster.kubectl("auth", "can-i", "*", "*", "--all-namespaces").stdout
    assert out.strip() == "yes"
