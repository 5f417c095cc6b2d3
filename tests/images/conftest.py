"""The image tests: both images built once per session (``make images`` on a local Debian
base made with mmdebstrap; make and podman's layer cache make a rebuild of unchanged sources
quick), then run with ``docker/podman`` (its own store under build/podman).

Tests here carry the ``images`` marker and also need root (``root``). Where podman, runc or
mmdebstrap is missing they are skipped with one line, except under
``SIDECAR_REQUIRE_ROOT_TESTS=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REQUIRE_ROOT_ENV

ROOT = Path(__file__).resolve().parents[2]
PODMAN = str(ROOT / "docker" / "podman")
LOCAL_BASE = "localhost/sidecar-base:bookworm"
TOOLS = ("podman", "runc", "mmdebstrap")
# The first image test's setup builds the images (``make images``): cold, with the base made
# by mmdebstrap and every wheel built, that takes minutes, longer than the suite's per-test
# timeout. The build's own limit is a little shorter, so that its output is what a CI log shows.
BUILD_TIMEOUT = 900
TIMEOUT = pytest.mark.timeout(BUILD_TIMEOUT + 60)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "images: builds and runs the container images (podman, runc, mmdebstrap)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("images") is None:
        return
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (apt-get install podman runc mmdebstrap)"
    if os.environ.get(REQUIRE_ROOT_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ROOT_ENV}=1 forbids skipping image tests")
    pytest.skip(reason)


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PODMAN, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}"
    return done


@dataclass(frozen=True)
class Images:
    webhook: str
    init: str


def _make_variable(name: str) -> str:
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), f"print-{name}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="session")
def images() -> Images:
    """Both images, built by ``make images`` on the local base with this interpreter's venv."""
    venv = Path(sys.prefix)
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "images", f"BASE_IMAGE={LOCAL_BASE}", f"VENV={venv}"],
        capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, f"make images failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return Images(_make_variable("WEBHOOK_IMAGE"), _make_variable("INIT_IMAGE"))


def injected(manifest: Path) -> dict[str, Any]:
    """The pod as ``injector inject`` writes it (the injection core, as the webhook runs it)."""
    done = subprocess.run(
        [sys.executable, "-m", "injector", "inject", "-f", str(manifest)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pod: dict[str, Any] = yaml.safe_load(done.stdout)
    return pod


def security_flags(context: dict[str, Any]) -> list[str]:
    """podman flags for a container's securityContext (the fields our manifests set)."""
    flags = [f"--user={context.get('runAsUser', 0)}:{context.get('runAsGroup', 0)}"]
    caps = context.get("capabilities", {})
    flags += [f"--cap-drop={c}" for c in caps.get("drop", [])]
    if caps.get("add"):
        flags.append(f"--cap-add={','.join(caps['add'])}")
    if context.get("allowPrivilegeEscalation") is False:
        flags.append("--security-opt=no-new-privileges")
    if context.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    assert not context.get("privileged"), "the manifests never run privileged containers"
    return flags


_LIST_PACKAGES = (
    "import importlib.util as u, pathlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    top = pathlib.Path(u.find_spec(name).origin).parent\n"
    "    for f in top.rglob('*'):\n"
    "        if f.is_file() and '__pycache__' not in f.parts:\n"
    "            print(f.relative_to(top.parent))\n"
)


def packaged_files(image: str, *packages: str) -> set[str]:
    """The files of ``packages`` installed in ``image`` (paths like ``init/cli.py``)."""
    done = podman("run", "--rm", "--entrypoint", "python", image, "-c", _LIST_PACKAGES, *packages)
    return set(done.stdout.split())


def source_files(*packages: str) -> set[str]:
    """The same, for this source tree: what the images must be built from."""
    return {
        str(f.relative_to(ROOT))
        for name in packages
        for f in (ROOT / name).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
    }


@pytest.fixture
def container_names() -> Iterator[list[str]]:
    """Names of containers a test started; removed afterwards, also on failure."""
    names: list[str] = []
    yield names
    for name in names:
        podman("rm", "-f", "-t", "0", name, check=False)
