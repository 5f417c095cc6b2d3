"""``python -m injector serve`` as a process: JSON logs, SIGTERM drain, exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.pki import Certs
from tests.webhook.conftest import client_context, free_port, hello_pod, review_of, serve_command

ROOT = Path(__file__).resolve().parents[2]


def start(certs: Certs, port: int, *extra: str) -> subprocess.Popen[str]:
    command = serve_command(port, certs.cert, certs.key, *extra)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def wait_ready(url: str, certs: Certs, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(f"{url}/readyz", verify=client_context(certs.ca)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("server did not become ready")


def cli_certs(directory: Path) -> Certs:
    """Certificates made the documented way: ``injector certs generate --out DIR``."""
    command = [sys.executable, "-m", "injector", "certs", "generate", "--out", str(directory)]
    subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return Certs(directory, directory / "ca.crt", directory / "tls.crt", directory / "tls.key")


def test_sigterm_drains_then_exits_zero(tmp_path: Path) -> None:
    certs = cli_certs(tmp_path / "certs")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    process = start(
        certs, port, "--drain-seconds", "1.5", "--shutdown-timeout", "2", "--log-format", "json"
    )
    try:
        wait_ready(url, certs, process)
        verify = client_context(certs.ca)
        with httpx.Client(base_url=url, verify=verify) as kept_alive:
            assert (
                kept_alive.post("/inject", json=review_of(hello_pod(), uid="before")).status_code
                == 200
            )
            process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            draining = kept_alive.post("/inject", json=review_of(hello_pod(), uid="during"))
            assert draining.status_code == 200 and draining.json()["response"]["uid"] == "during"
            assert draining.headers.get("connection") == "close"
        with httpx.Client(base_url=url, verify=verify) as fresh:  # new connections still accepted
            assert fresh.get("/readyz").status_code == 503
            assert fresh.post("/inject", json=review_of(hello_pod(), uid="new")).status_code == 200
        started = time.monotonic()
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    admissions = [line for line in lines if line["msg"].startswith("admission")]
    assert [line["uid"] for line in admissions] == ["before", "during", "new"]
    first = admissions[0]
    assert first["decision"] == "injected" and first["namespace"] == "default"
    assert first["pod"] == "hello-5d7f9b8c4-*" and first["operation"] == "CREATE"
    assert first["patch_ops"] > 0 and first["duration_ms"] >= 0 and first["reason"]
    assert any("draining" in line["msg"] for line in lines)


def test_unusable_flags_exit_1(certs: Certs, tmp_path: Path) -> None:
    process = start(certs, free_port(), "--self-managed-certs", "--namespace", "")
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1 and "error:" in stderr
    (tmp_path / "config").write_text("policy: sometimes\n")
    process = start(certs, free_port(), "--config-dir", str(tmp_path))
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 1 and "policy" in stderr
