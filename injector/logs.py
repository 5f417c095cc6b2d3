"""Logging setup for the entry points (text or one JSON object per line).

Only ``main`` functions and the app factory call ``configure``; modules just use
``logging.getLogger(__name__)`` and pass context (namespace/name, uid, decision) in
``extra=``, which the JSON formatter emits as fields.

Log lines carry text that pod authors choose (names, annotations) before the API server has
validated it, so the text format escapes it: control characters (newlines, ANSI escapes),
Unicode line separators and bidirectional overrides in the message and the fields become
``\\n``, ``\\x1b``, ``\\u2028``...; field values with spaces, quotes or ``=`` are quoted;
traceback lines are indented. Every line that starts in column 0 is therefore one record of
ours. uvicorn's ``color_message`` (the same message with ANSI colours) is dropped.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# Record attributes that are not fields; uvicorn's color_message repeats msg with ANSI codes.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
_UNSAFE = (
    [*range(0x20), *range(0x7F, 0xA0)]  # C0, DEL, C1 (newline, carriage return, ESC, NEL...)
    + [0x2028, 0x2029]  # line and paragraph separators
    + [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # bidi controls
)
_ESCAPES = str.maketrans({c: ascii(chr(c))[1:-1] for c in _UNSAFE} | {ord("\\"): "\\\\"})


def escape(text: str) -> str:
    """``text`` on one line, its control characters (and backslashes) backslash-escaped."""
    return text.translate(_ESCAPES)


def _field(value: object) -> str:
    text = escape(str(value))
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extra:
            text += " " + " ".join(f"{escape(k)}={_field(v)}" for k, v in extra.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                text += "".join(f"\n    {escape(line)}" for line in block.splitlines())
        return text


def configure(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
