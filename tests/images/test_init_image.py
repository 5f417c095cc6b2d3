"""The init image run as the injected ``istio-init`` container: the image, args and
securityContext ``injector inject`` writes for tests/testdata/images/pod.yaml, in a fresh
pod netns (``podman run --network ns:...``); real connections land where the annotations say.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.images.conftest import (
    ROOT,
    TIMEOUT,
    Images,
    injected,
    packaged_files,
    podman,
    security_flags,
    source_files,
)
from tests.init.rootutil import APP_UID, PROXY_UID, istio_lines, save
from tests.netns import Netns, Topology, landed, pod_and_peer

pytestmark = [pytest.mark.root, pytest.mark.images, pytest.mark.slow, TIMEOUT]

EXCLUDED_IP, REMOTE, EXCLUDED_PORT, EXCLUDED_INBOUND = "10.97.0.1", 7070, 7071, 8081


@pytest.fixture(scope="module")
def istio_init() -> dict[str, Any]:
    pod = injected(ROOT / "tests" / "testdata" / "images" / "pod.yaml")
    inits: list[dict[str, Any]] = pod["spec"]["initContainers"]
    (container,) = [c for c in inits if c["name"] == "istio-init"]
    return container


def run_init(
    ns: Netns, container: dict[str, Any], *extra: str, flags: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``podman run`` of the container spec (image entrypoint, its args) in ``ns``."""
    sec = security_flags(container["securityContext"]) if flags is None else flags
    return podman(
        "run", "--rm", f"--network=ns:/run/netns/{ns.name}", *sec,
        container["image"], *container["args"], *extra, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def redirected(images: Images, istio_init: dict[str, Any]) -> Iterator[Topology]:
    assert istio_init["image"] == images.init, "values.yaml's init image is what make builds"
    with pod_and_peer([f"{EXCLUDED_IP}/32"]) as topo:
        done = run_init(topo.pod, istio_init)
        assert done.returncode == 0, done.stderr
        topo.pod.serve("proxy", [15001, 15006], uid=PROXY_UID, gid=PROXY_UID)
        topo.pod.serve("app", [8080, EXCLUDED_INBOUND], uid=APP_UID, gid=APP_UID)
        topo.peer.serve("remote", [REMOTE, EXCLUDED_PORT])
        yield topo


def test_the_container_runs_as_injected(istio_init: dict[str, Any]) -> None:
    flags = security_flags(istio_init["securityContext"])
    assert "--cap-add=NET_ADMIN,NET_RAW" in flags and "--cap-drop=ALL" in flags
    assert istio_init["args"][0] == "istio-iptables"


def test_inbound_is_captured_with_the_original_destination(redirected: Topology) -> None:
    reply = redirected.peer.connect(redirected.pod4, 8080)
    assert landed(reply) == ("proxy", 15006) and reply["orig"] == [redirected.pod4, 8080]


def test_excluded_inbound_port_reaches_the_app(redirected: Topology) -> None:
    assert landed(redirected.peer.connect(redirected.pod4, EXCLUDED_INBOUND)) == (
        "app",
        EXCLUDED_INBOUND,
    )


def test_outbound_from_the_app_is_captured(redirected: Topology) -> None:
    reply = redirected.pod.connect(redirected.peer4, REMOTE, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("proxy", 15001) and reply["orig"] == [redirected.peer4, REMOTE]


@pytest.mark.parametrize(("host", "port"), [(EXCLUDED_IP, REMOTE), ("10.99.0.1", EXCLUDED_PORT)])
def test_excluded_outbound_ip_and_port_bypass(redirected: Topology, host: str, port: int) -> None:
    reply = redirected.pod.connect(host, port, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("remote", port)


def test_the_proxy_uid_bypasses(redirected: Topology) -> None:
    reply = redirected.pod.connect(redirected.peer4, REMOTE, uid=PROXY_UID, gid=PROXY_UID)
    assert landed(reply) == ("remote", REMOTE)


def test_rerun_is_idempotent(redirected: Topology, istio_init: dict[str, Any]) -> None:
    before = save(redirected.pod)
    assert istio_lines(before)
    again = run_init(redirected.pod, istio_init)
    assert again.returncode == 0, again.stderr
    assert save(redirected.pod) == before


def test_validation_runs_non_root_and_detects_missing_rules(
    images: Images, istio_init: dict[str, Any]
) -> None:
    """Istio's istio-validation container: uid 1337, no capabilities, --run-validation."""
    unprivileged = [f"--user={PROXY_UID}:{PROXY_UID}", "--cap-drop=ALL"]
    validate = ("--run-validation", "--skip-rule-apply", "--probe-timeout", "3s")
    with pod_and_peer() as topo:
        assert run_init(topo.pod, istio_init).returncode == 0
        ok = run_init(topo.pod, istio_init, *validate, flags=unprivileged)
        assert ok.returncode == 0, ok.stderr
        assert "validation passed" in ok.stderr
    with pod_and_peer() as topo:
        bad = run_init(topo.pod, istio_init, "--run-validation", "--skip-rule-apply",
                       "--probe-timeout", "1s", flags=unprivileged)  # fmt: skip
        assert bad.returncode == 126, bad.stderr


def test_the_nft_backend_works_from_the_image(istio_init: dict[str, Any]) -> None:
    nft = ("--force-iptables-binary", "nft", "--ipv6", "off")
    with pod_and_peer() as topo:
        done = run_init(topo.pod, istio_init, *nft)
        assert done.returncode == 0, done.stderr
        assert istio_lines(save(topo.pod, "iptables-nft-save"))
        assert istio_lines(save(topo.pod)) == []
        topo.pod.serve("proxy", [15001, 15006], uid=PROXY_UID, gid=PROXY_UID)
        reply = topo.peer.connect(topo.pod4, 8080)
        assert landed(reply) == ("proxy", 15006) and reply["orig"] == [topo.pod4, 8080]
        again = run_init(topo.pod, istio_init, *nft)
        assert again.returncode == 0 and "nothing to do" in again.stderr


FORBIDDEN = ("jinja2", "ruamel", "orjson", "yaml_rs", "fastapi", "kubernetes", "injector", "certs",
             "uvicorn", "pip")  # fmt: skip


def test_the_init_image_carries_only_what_sidecar_init_needs(images: Images) -> None:
    probe = (
        "import importlib.util as u, shutil; "
        f"print([m for m in {FORBIDDEN!r} if u.find_spec(m)]); "
        "print([m for m in ('init', 'iptc', 'pyroute2') if not u.find_spec(m)]); "
        "print([t for t in ('gcc', 'cc', 'c++', 'ld', 'as', 'make', 'pip') if shutil.which(t)])"
    )
    done = podman("run", "--rm", "--entrypoint", "python", images.init, "-c", probe)
    assert done.stdout.split("\n")[:3] == ["[]", "[]", "[]"], done.stdout


def test_the_init_package_is_the_source_trees(images: Images) -> None:
    """Built from the tree as it is now: no module missing, none left over from a past build."""
    assert packaged_files(images.init, "init") == source_files("init")
