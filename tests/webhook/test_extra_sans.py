"""``--extra-dns-name`` / ``--extra-ip``: validated at the edge, only with self-managed certs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _serve(*flags: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "injector", "serve", "--port", "0", *flags]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_an_extra_ip_that_is_not_an_address_is_a_usage_error() -> None:
    result = _serve("--self-managed-certs", "--namespace", "x", "--extra-ip", "localhost")
    assert result.returncode == 2
    assert "not an IP address: 'localhost'" in result.stderr
    assert "Traceback" not in result.stderr


def test_extra_names_without_self_managed_certs_are_refused(tmp_path: Path) -> None:
    result = _serve("--extra-dns-name", "localhost")
    assert result.returncode != 0
    assert "--extra-dns-name/--extra-ip need --self-managed-certs" in result.stderr
    assert "Traceback" not in result.stderr
