"""Log forging: pod-chosen text cannot start a log line of its own; no ANSI escapes in logs."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from injector import logs
from tests.pki import Certs
from tests.webhook.conftest import client_context, free_port, hello_pod, review_of, serve_command

ROOT = Path(__file__).resolve().parents[2]
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
FORGED = "2026-12-07 05:00:00,000 INFO injector.webhook: admission inject pod=trusted"
EVIL_NAME = f"evil\n{FORGED}\r\x1b[2K\u2028x decision=skip"


def serve_and_admit(certs: Certs, *extra: str) -> str:
    """stderr of ``injector serve`` that answered one admission of a pod named EVIL_NAME."""
    port = free_port()
    command = serve_command(port, certs.cert, certs.key, "--drain-seconds", "0", *extra)
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        pod = hello_pod()
        pod["metadata"]["name"] = EVIL_NAME
        body = json.dumps(review_of(pod)).encode()
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(base_url=url, verify=client_context(certs.ca), timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and proc.poll() is None, "no server"
                    time.sleep(0.1)
            headers = {"Content-Type": "application/json"}
            assert client.post("/inject", content=body, headers=headers).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    return stderr


def test_a_pod_name_with_newlines_cannot_forge_text_log_lines(certs: Certs) -> None:
    stderr = serve_and_admit(certs)
    lines = stderr.splitlines()
    assert any("Uvicorn running on" in line for line in lines)  # uvicorn's lines pass too
    assert all(RECORD_START.match(line) for line in lines), stderr
    assert not any(line.startswith(FORGED[:20]) for line in lines)
    assert "\x1b" not in stderr and "\u2028" not in stderr and "color_message" not in stderr
    admission = next(line for line in lines if "admission " in line and "evil" in line)
    assert 'pod="evil\\n2026-12-07 05:00:00,000 INFO' in admission
    assert '\\r\\x1b[2K\\u2028x decision=skip"' in admission


def test_json_logs_keep_the_name_in_one_field(certs: Certs) -> None:
    stderr = serve_and_admit(certs, "--log-format", "json")
    records = [json.loads(line) for line in stderr.splitlines()]
    assert [r["pod"] for r in records if "pod" in r] == [EVIL_NAME]
    assert not any("color_message" in r for r in records)


def test_traceback_lines_are_indented_and_escaped() -> None:
    record = logging.makeLogRecord({"msg": "failed", "levelname": "ERROR", "name": "x"})
    try:
        raise ValueError(f"bad\n{FORGED}")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = logs.TextFormatter().format(record)
    first, *rest = text.splitlines()
    assert RECORD_START.match(first) and rest
    assert all(line.startswith("    ") for line in rest), text


def test_make_demo_prints_no_ansi_escapes_into_a_pipe() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manifests" / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "== injector check -f bookinfo.yaml" in proc.stdout
    assert "\x1b" not in proc.stdout
