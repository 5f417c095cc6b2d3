"""init.log writes exactly what the logging configuration of init.cli would write."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from init import log

ROOT = Path(__file__).resolve().parents[2]
CREATED = 1_700_000_000.987654


def _stdlib_line(level: int, msg: str, args: tuple[object, ...], exc_info: object = None) -> str:
    record = logging.LogRecord("init.x", level, __file__, 1, msg, args, None)
    record.created, record.msecs = CREATED, int((CREATED - int(CREATED)) * 1000) + 0.0
    if exc_info:
        record.exc_info = sys.exc_info()
    return logging.Formatter("%(asctime)s %(levelname)s %(message)s").format(record)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log.time, "time", lambda: CREATED)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("level", [log.DEBUG, log.INFO, log.WARNING, log.ERROR, log.CRITICAL])
def test_text_line_matches_logging_formatter(level: int) -> None:
    args = ("IPv%d rules:\n%s %r", (4, "* nat\nCOMMIT", "x"))
    assert log.format_line(level, args[0], args[1], None, False) == _stdlib_line(level, *args)


@pytest.mark.usefixtures("frozen_clock")
def test_traceback_matches_logging_formatter() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        ours = log.format_line(log.DEBUG, "unexpected failure", (), True, False)
        theirs = _stdlib_line(log.DEBUG, "unexpected failure", (), exc_info=True)
    assert ours == theirs and "RuntimeError: boom" in ours


@pytest.mark.usefixtures("frozen_clock")
def test_json_line_matches_json_dumps() -> None:
    line = log.format_line(log.WARNING, "%s: ignoring %r", ("résolv", 'a"b\\'), None, True)
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CREATED)),
             "level": "warning", "msg": "résolv: ignoring 'a\"b\\\\'"}  # fmt: skip
    assert line == json.dumps(entry)


def test_configured_sink_filters_by_level() -> None:
    stream = io.StringIO()
    log.configure(log.INFO, stream, False)
    try:
        log.get_logger("init.x").debug("hidden")
        log.get_logger("init.x").info("shown %d", 1)
    finally:
        log.reset()
    assert stream.getvalue().endswith(" INFO shown 1\n") and "hidden" not in stream.getvalue()


def test_unconfigured_goes_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="init"):
        log.get_logger("init.x").debug("via %s", "logging")
    assert [(r.name, r.levelno, r.getMessage(), r.funcName) for r in caplog.records] == [
        ("init.x", logging.DEBUG, "via logging", "test_unconfigured_goes_through_logging")
    ]


def test_command_line_does_not_import_logging() -> None:
    code = "import sys, init.cli as c; c.main(['--dry-run']); print('logging' in sys.modules)"
    assert python_stdout(code).splitlines()[-1] == "False"


def test_is_enabled_for_follows_the_sink_level() -> None:
    log.configure(log.INFO, io.StringIO(), False)
    try:
        logger = log.get_logger("init.x")
        assert not logger.isEnabledFor(log.DEBUG)
        assert logger.isEnabledFor(log.INFO) and logger.isEnabledFor(log.ERROR)
    finally:
        log.reset()


def test_is_enabled_for_follows_logging_when_unconfigured(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="init"):
        assert log.get_logger("init.x").isEnabledFor(log.DEBUG)
    with caplog.at_level(logging.INFO, logger="init"):
        assert not log.get_logger("init.x").isEnabledFor(log.DEBUG)


def test_is_enabled_for_without_logging_is_warning_and_up() -> None:
    code = (
        "import sys; from init import log; x = log.get_logger('init.x'); "
        "print(x.isEnabledFor(log.INFO), x.isEnabledFor(log.WARNING), 'logging' in sys.modules)"
    )
    assert python_stdout(code).split() == ["False", "True", "False"]


def python_stdout(code: str) -> str:
    """stdout of ``python -c code`` in a fresh interpreter (nothing imported yet)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout
