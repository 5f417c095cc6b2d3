"""Shared pytest wiring.

Tests marked ``root`` need root and network namespaces (``ip netns``); tests marked
``cluster`` need a control plane (``KUBEBUILDER_ASSETS``, etcd, kubectl). On a laptop they
are skipped with the reason; in CI (``SIDECAR_REQUIRE_ROOT_TESTS=1``, set by ``.ci/run``) a
test that cannot run is a failure, so a broken CI machine can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.cluster import controlplane

REQUIRE_ROOT_ENV = "SIDECAR_REQUIRE_ROOT_TESTS"


def _root_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip netns)"
    if not os.path.isdir("/proc/self/ns"):
        return "needs network namespaces"
    return None


UNAVAILABLE = {"root": _root_unavailable_reason, "cluster": controlplane.unavailable_reason}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, unavailable in UNAVAILABLE.items():
        if item.get_closest_marker(marker) is None:
            continue
        reason = unavailable()
        if reason is None:
            continue
        if os.environ.get(REQUIRE_ROOT_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ROOT_ENV}=1 forbids skipping {marker} tests")
        pytest.skip(reason)
