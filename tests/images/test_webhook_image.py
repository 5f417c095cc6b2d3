"""The webhook image run as manifests/base/deployment.yaml runs it: its user, a read-only root
filesystem, capabilities dropped, /tmp the only writable path, the config mounted read-only,
and serving certificates mounted as files (from ``injector certs generate``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.util import BASE, Objects, mount, render
from tests.images.conftest import (
    ROOT,
    TIMEOUT,
    Images,
    packaged_files,
    podman,
    security_flags,
    source_files,
)
from tests.netns import Netns, netns

pytestmark = [pytest.mark.root, pytest.mark.images, pytest.mark.slow, TIMEOUT]

CLIENT = str(Path(__file__).with_name("https.py"))
REVIEW = ROOT / "tests" / "testdata" / "webhook" / "hello-review.json"
DRAIN, SHUTDOWN = 1, 2


def _deployment_container() -> dict[str, Any]:
    deployment = yaml.safe_load((ROOT / "manifests" / "base" / "deployment.yaml").read_text())
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


def _serve_args(container: dict[str, Any]) -> list[str]:
    """The Deployment's args, with mounted cert files instead of the self-managed CA."""
    args = list(container["args"])
    for flag in ("--namespace", "--service-name", "--secret-name", "--webhook-config-name"):
        i = args.index(flag)
        del args[i : i + 2]
    args.remove("--self-managed-certs")
    for flag, value in (("--drain-seconds", DRAIN), ("--shutdown-timeout", SHUTDOWN)):
        args[args.index(flag) + 1] = str(value)
    return [*args, "--tls-cert-file", "/etc/tls/tls.crt", "--tls-key-file", "/etc/tls/tls.key"]


def _get(ns: Netns, ca: Path, path: str, body: Path | None = None) -> dict[str, Any]:
    argv = [sys.executable, CLIENT, str(ca), f"https://localhost:15017{path}"]
    done = ns.run([*argv, *([str(body)] if body else [])], check=False)
    reply: dict[str, Any] = json.loads(done.stdout or '{"error": "no output"}')
    return reply


@pytest.fixture
def webhook(
    images: Images, tmp_path: Path, container_names: list[str]
) -> Iterator[tuple[Netns, Path, str]]:
    certs = tmp_path / "tls"
    subprocess.run(
        [sys.executable, "-m", "injector", "certs", "generate", "--out", str(certs)],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    for file in certs.iterdir():  # a Secret volume: readable by the pod's user
        file.chmod(0o644)
    container = _deployment_container()
    assert container["image"] == images.webhook, "the Deployment's image is what make builds"
    name = f"sci-webhook-{tmp_path.name}"
    config = mount(Objects(render(BASE)), tmp_path / "config")  # the ConfigMap, key by key
    with netns("sciwh") as ns:
        container_names.append(name)
        podman(
            "run", "-d", "--name", name, f"--network=ns:/run/netns/{ns.name}",
            *security_flags(container["securityContext"]),
            "--tmpfs=/tmp:size=16m", f"--volume={certs}:/etc/tls:ro",
            f"--volume={config}:/etc/sidecar-injector/config:ro",
            images.webhook, *_serve_args(container),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while _get(ns, certs / "ca.crt", "/readyz").get("status") != 200:
            state = podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
            assert state == "true", podman("logs", name).stderr
            assert time.monotonic() < deadline, podman("logs", name).stderr
            time.sleep(0.3)
        yield ns, certs / "ca.crt", name


def test_it_runs_as_the_deployments_user_on_a_read_only_root(
    webhook: tuple[Netns, Path, str],
) -> None:
    _, _, name = webhook
    assert podman("exec", name, "id", "-u").stdout.strip() == "65532"
    denied = podman("exec", name, "touch", "/opt/venv/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert podman("exec", name, "touch", "/tmp/x").returncode == 0


def test_it_answers_readyz_and_an_admission_review_over_tls(
    webhook: tuple[Netns, Path, str],
) -> None:
    ns, ca, _ = webhook
    ready = _get(ns, ca, "/readyz")
    assert ready["status"] == 200 and ready["body"]["ready"] is True
    reply = _get(ns, ca, "/inject", REVIEW)
    assert reply["status"] == 200, reply
    response = reply["body"]["response"]
    assert response["uid"] == json.loads(REVIEW.read_text())["request"]["uid"]
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"


def test_it_exits_cleanly_on_sigterm(webhook: tuple[Netns, Path, str]) -> None:
    _, _, name = webhook
    started = time.monotonic()
    podman("kill", "--signal", "TERM", name)
    code = podman("wait", name, timeout=30).stdout.strip()
    elapsed = time.monotonic() - started
    assert code == "0", podman("logs", name).stderr
    assert DRAIN <= elapsed < DRAIN + SHUTDOWN + 5


def test_the_packages_are_the_source_trees(images: Images) -> None:
    """Built from the tree as it is now, data files included."""
    packages = ("injector", "init", "certs")
    assert packaged_files(images.webhook, *packages) == source_files(*packages)
