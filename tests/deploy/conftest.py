"""Fixtures: the base install and the fail-open overlay, rendered once per session."""

from __future__ import annotations

import pytest

from tests.deploy.util import BASE, FAIL_OPEN, MANIFESTS, Objects, render


@pytest.fixture(scope="session")
def installed() -> Objects:
    """What `kubectl apply -k manifests/` applies."""
    return Objects(render(MANIFESTS))


@pytest.fixture(scope="session")
def base() -> Objects:
    return Objects(render(BASE))


@pytest.fixture(scope="session")
def fail_open() -> Objects:
    return Objects(render(FAIL_OPEN))
