"""Parsers of single flag values, each adding a problem (naming flag and value) when invalid.

:class:`Problems` collects them so :func:`init.config.build_config` reports every bad value in
one :class:`~init.errors.ConfigError`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from init.errors import ConfigError
from init.flags import FlagValues

WILDCARD = "*"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]{0,14}$")
_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Networks:
    """A CIDR list split per IP family; ``wildcard`` stands for ``*`` (everything)."""

    wildcard: bool = False
    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()

    def of(self, family: int) -> tuple[str, ...]:
        return self.v4 if family == 4 else self.v6

    @property
    def has_loopback(self) -> bool:
        return any(ipaddress.ip_interface(c).ip.is_loopback for c in self.v4 + self.v6)


class Problems:
    """Collects every validation problem, so the user sees them all at once."""

    def __init__(self, flags: FlagValues) -> None:
        self.flags = flags
        self.messages: list[str] = []

    def add(self, source: str, value: str, why: str) -> None:
        self.messages.append(f"{source}={value!r}: {why}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise ConfigError("invalid configuration: " + "; ".join(self.messages))

    def text(self, dest: str) -> tuple[str, str]:
        """The raw text of flag ``dest`` and where it came from."""
        return self.flags.text(dest), self.flags.source(dest)


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²``, which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def split_list(text: str) -> list[str]:
    """Istio's comma list: items trimmed, empty items (``"a,,b,"``) skipped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def port(p: Problems, source: str, text: str) -> int:
    if is_number(text) and 1 <= int(text) <= 65535:
        return int(text)
    p.add(source, text, "not a port number (1-65535)")
    return 0


def port_flag(p: Problems, dest: str) -> int:
    """The one port of flag ``dest`` (-p, -z, -e, --iptables-probe-port)."""
    text, source = p.text(dest)
    return port(p, source, text)


def ports(p: Problems, dest: str, allow_wildcard: bool = False) -> tuple[bool, tuple[int, ...]]:
    text, source = p.text(dest)
    if allow_wildcard and text.strip() == WILDCARD:
        return True, ()
    return False, tuple(port(p, source, item) for item in split_list(text))


def ids(p: Problems, source: str, text: str, what: str) -> tuple[str, ...]:
    items = split_list(text)
    for item in items:
        numeric = is_number(item) and int(item) < 2**32 - 1
        if not numeric and not _NAME.match(item):
            p.add(source, item, f"not a {what} (a number or a name)")
    return tuple(items)


def interfaces(p: Problems, dest: str) -> tuple[str, ...]:
    text, source = p.text(dest)
    items = split_list(text)
    for item in items:
        if not _IFNAME.match(item):
            p.add(
                source,
                item,
                "not an interface name (1-15 letters, digits or _.@+-, not starting with '-')",
            )
    return tuple(items)


def networks(p: Problems, dest: str, allow_wildcard: bool) -> Networks:
    text, source = p.text(dest)
    if text.strip() == WILDCARD:
        if not allow_wildcard:
            p.add(source, text, "'*' is not allowed here")
        return Networks(wildcard=allow_wildcard)
    v4: list[str] = []
    v6: list[str] = []
    for item in split_list(text):
        if "%" in item:  # ip_interface would keep the address and drop the zone
            p.add(source, item, "an IPv6 zone (%...) has no place in a CIDR")
            continue
        try:
            cidr = ipaddress.ip_interface(item)
        except ValueError:
            p.add(source, item, "not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)")
            continue
        (v4 if cidr.version == 4 else v6).append(cidr.with_prefixlen)
    return Networks(False, tuple(v4), tuple(v6))


def number(p: Problems, dest: str, low: int, high: int) -> int:
    text, source = p.text(dest)
    if is_number(text) and low <= int(text) <= high:
        return int(text)
    p.add(source, text, f"not a number in {low}-{high}")
    return low


def choice(p: Problems, dest: str, allowed: tuple[str, ...]) -> str:
    text, source = p.text(dest)
    if text not in allowed:
        p.add(source, text, "use one of " + ", ".join(a or "''" for a in allowed))
        return allowed[0]
    return text


def parse_duration(text: str) -> float | None:
    """A Go duration (``5s``, ``1m30s``, ``500ms``) in seconds, or None when malformed."""
    text = text.strip()
    if text == "0":
        return 0.0
    matches = list(_DURATION.finditer(text))
    if not matches or "".join(m.group(0) for m in matches) != text:
        return None
    return sum(float(m.group(1)) * _UNITS[m.group(2)] for m in matches)


def duration(p: Problems, dest: str) -> float:
    text, source = p.text(dest)
    seconds = parse_duration(text)
    if seconds is None:
        p.add(source, text, "not a duration (e.g. 5s)")
    return seconds or 0.0


def loopback_cidr(p: Problems, source: str, text: str) -> str:
    """``$ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR``: an IPv4 loopback CIDR, /8 to /32."""
    try:
        cidr = ipaddress.ip_interface(text.strip())
    except ValueError:
        p.add(source, text, "not a CIDR")
        return text
    if cidr.version != 4 or not cidr.ip.is_loopback or not 8 <= cidr.network.prefixlen <= 32:
        p.add(source, text, "must be an IPv4 loopback CIDR with a /8 to /32 mask")
    return cidr.with_prefixlen
