"""--run-validation resolves the proxy user and group before forking (no root needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from init import validation
from init.config import CaptureConfig
from init.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "no-such-user-sidecar-init"


def test_numeric_ids_are_taken_as_they_are() -> None:
    config = CaptureConfig(proxy_uids=("1337",), proxy_gids=("1338",))
    assert validation.proxy_ids(config) == (1337, 1338)


@pytest.mark.parametrize(
    ("uids", "gids", "fragment"),
    [((UNKNOWN,), ("1337",), "proxy uid"), (("1337",), (UNKNOWN,), "proxy gid")],
)
def test_unknown_name_is_a_config_error_before_forking(
    monkeypatch: pytest.MonkeyPatch, uids: tuple[str, ...], gids: tuple[str, ...], fragment: str
) -> None:
    def no_fork() -> int:
        raise AssertionError("forked before resolving the proxy user")

    monkeypatch.setattr(os, "fork", no_fork)
    config = CaptureConfig(proxy_uids=uids, proxy_gids=gids)
    with pytest.raises(ConfigError, match=f"{fragment} '{UNKNOWN}'"):
        validation.run_validation(config, 15002, 5.0)


def test_unknown_user_exits_2_at_once_instead_of_waiting_for_the_timeout() -> None:
    argv = ["--skip-rule-apply", "--run-validation", "-u", UNKNOWN, "--ipv6", "off"]
    done = subprocess.run(
        [sys.executable, "-m", "init", *argv, "--probe-timeout", "60s"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"--proxy-uid='{UNKNOWN}': no such user" in done.stderr
