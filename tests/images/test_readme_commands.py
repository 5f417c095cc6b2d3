"""The README's image commands (Install on a cluster, step 1) do what they say: the make
targets name the images the kustomize line and ``kind load`` use, and the archives load."""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile

import pytest

from tests.images.conftest import PODMAN, ROOT, TIMEOUT, Images, podman

pytestmark = [pytest.mark.root, pytest.mark.images, pytest.mark.slow, TIMEOUT]


def _step_one_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    step = text[text.index("1. Build the two images") : text.index("2. Install:")]
    blocks = re.findall(r"```sh\n(.*?)```", step, re.S)
    return [shlex.split(line) for block in blocks for line in block.strip().splitlines()]


def _make(*args: str) -> str:
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"make {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_the_readme_names_the_images_make_builds_and_pushes() -> None:
    commands = _step_one_commands()
    makes = [c[1:] for c in commands if c[0] == "make"]
    assert [m[0] for m in makes] == ["images", "push-images", "image-archives"]
    (repo,) = {m[1] for m in makes}
    webhook = _make("print-WEBHOOK_IMAGE", repo).strip()
    init = _make("print-INIT_IMAGE", repo).strip()
    pushes = re.findall(r"^docker/podman push (\S+)$", _make("-n", "push-images", repo), re.M)
    assert pushes == [webhook, init]
    (kustomize,) = [c for c in commands if c[0] == "(cd"]
    old, new = kustomize[-1].removesuffix(")").split("=", 1)
    assert old == _make("print-WEBHOOK_IMAGE").strip().rsplit(":", 1)[0]  # the Deployment's
    assert new == webhook


def test_the_archives_kind_loads_hold_the_images(images: Images) -> None:
    loads = [c[-1] for c in _step_one_commands() if c[:3] == ["kind", "load", "image-archive"]]
    assert loads == ["build/images/injector.tar", "build/images/sidecar-init.tar"]
    _make("image-archives")  # the default IMAGE_REPO: the images the session built
    # An empty store, as a node's is; removed afterwards (with its /tmp run state).
    with tempfile.TemporaryDirectory(prefix="sidecar-load-") as store:
        fresh = {"SIDECAR_PODMAN_STATE": store, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        try:
            for archive, image in zip(loads, (images.webhook, images.init), strict=True):
                done = subprocess.run(
                    [PODMAN, "load", "-q", "-i", str(ROOT / archive)],
                    capture_output=True, text=True, check=False, env=fresh, timeout=300,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                assert image in done.stdout
        finally:
            subprocess.run(
                [PODMAN, "system", "reset", "-f"], env=fresh, capture_output=True, check=False
            )


def test_the_image_sizes_in_the_readme_are_the_built_ones(images: Images) -> None:
    """The size table (uncompressed, on the local base): within 10% of what was just built."""
    text = (ROOT / "README.md").read_text()
    claimed = {m[0]: int(m[1]) for m in re.findall(r"^\s*\| `([\w-]+)` \| (\d+) MB \|", text, re.M)}
    assert set(claimed) == {"injector", "sidecar-init"}
    for image in (images.webhook, images.init):
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
        name = image.rsplit("/", 1)[1].split(":")[0]
        assert abs(size / 1e6 - claimed[name]) <= claimed[name] / 10, (name, size)
