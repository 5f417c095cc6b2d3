"""Durations in ProxyConfig: read as Go or protobuf JSON spell them, written as protobuf JSON.

Istio parses ``drainDuration: 1m`` into a ``google.protobuf.Duration`` and writes it back in
``PROXY_CONFIG`` in protobuf's JSON form: seconds, with 0, 3, 6 or 9 fractional digits and an
``s`` suffix (``60s``, ``1.500s``). Both spellings are accepted on input.
"""

from __future__ import annotations

import re
from decimal import Decimal

# Go's time.ParseDuration units, in nanoseconds.
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# The range protobuf allows: +-315,576,000,000 seconds (10,000 years).
_MAX_SECONDS = 315_576_000_000


def parse(text: str) -> int:
    """Nanoseconds in ``text`` (``"1m30s"``, ``"1.5s"``, ``"-2h"``); ``ValueError`` if not
    a duration."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body == "0":
        return 0
    total = Decimal(0)
    position = 0
    for match in _PART.finditer(body):
        if match.start() != position:
            break
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        raise ValueError(f"{text!r} is not a duration (examples: 45s, 1m30s, 500ms)")
    nanos = sign * int(total)
    if abs(nanos) > _MAX_SECONDS * 1_000_000_000:
        raise ValueError(f"{text!r} is out of range for a duration")
    return nanos


def to_json(nanos: int) -> str:
    """Protobuf's JSON form: ``60s``, ``1.500s``, ``0.000001s``, ``-2s``."""
    sign = "-" if nanos < 0 else ""
    seconds, fraction = divmod(abs(nanos), 1_000_000_000)
    if fraction == 0:
        return f"{sign}{seconds}s"
    digits = f"{fraction:09d}"
    for width in (3, 6):
        if digits[width:] == "0" * (9 - width):
            digits = digits[:width]
            break
    return f"{sign}{seconds}.{digits}s"


def normalize(text: str) -> str:
    """``text`` in protobuf's JSON form; ``ValueError`` if it is not a duration."""
    return to_json(parse(text))
