"""Facts about the pod the init program reads from the system: IPv6 addresses, nameservers and
the numeric ids of user and group names.

The first two follow ``istio-iptables``: IPv6 is on when the pod's first global address is
IPv6 (with ``--dual-stack``: when any is), and the DNS servers are the ``nameserver`` lines of
resolv.conf.
"""

from __future__ import annotations

import array
import fcntl
import grp
import ipaddress
import logging
import pwd
import socket
import struct
from typing import Literal

logger = logging.getLogger(__name__)

_SIOCGIFCONF = 0x8912
_IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux
_IF_INET6 = "/proc/net/if_inet6"
_SCOPE_GLOBAL = 0x00
RESOLV_CONF_LIMIT = 64 * 1024  # glibc reads a few nameservers; no real resolv.conf is larger


def ipv4_addresses() -> list[ipaddress.IPv4Address]:
    """Every IPv4 address configured on an interface of this netns (SIOCGIFCONF)."""
    buf = array.array("B", b"\0" * _IFREQ_SIZE * 64)
    addr, _ = buf.buffer_info()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("iL", len(buf), addr)
        length = struct.unpack("iL", fcntl.ioctl(sock.fileno(), _SIOCGIFCONF, request))[0]
    raw = buf.tobytes()[:length]
    return [ipaddress.IPv4Address(raw[i + 20 : i + 24]) for i in range(0, length, _IFREQ_SIZE)]


def ipv6_global_addresses(path: str = _IF_INET6) -> list[ipaddress.IPv6Address]:
    """IPv6 addresses of global scope, from ``/proc/net/if_inet6`` (empty when IPv6 is off)."""
    try:
        with open(path, encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and int(fields[3], 16) == _SCOPE_GLOBAL:
            found.append(ipaddress.IPv6Address(bytes.fromhex(fields[0])))
    return found


def pod_has_ipv6(dual_stack: bool) -> bool:
    """Istio's rule: the kernel lists IPv4 addresses before IPv6 ones, and the first wins.

    IPv4 addresses are listed only when they can decide: IPv6 present, --dual-stack off.
    """
    if not ipv6_global_addresses():
        return False
    if dual_stack:
        return True
    return not any(not a.is_loopback and not a.is_link_local for a in ipv4_addresses())


def owner_id(name: str, kind: Literal["uid", "gid"]) -> int | None:
    """The numeric uid or gid ``name`` stands for (digits as they are); None when unknown."""
    if name.isascii() and name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "uid" else grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def read_nameservers(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The IPv4 and IPv6 ``nameserver`` addresses listed in a resolv.conf file.

    Reads at most :data:`RESOLV_CONF_LIMIT` bytes; a larger file (or a device such as
    ``/dev/zero``) is refused with ValueError rather than read without end.
    """
    with open(path, "rb") as handle:
        data = handle.read(RESOLV_CONF_LIMIT + 1)
    if len(data) > RESOLV_CONF_LIMIT:
        raise ValueError(f"larger than {RESOLV_CONF_LIMIT} bytes; not a resolv.conf")
    v4: list[str] = []
    v6: list[str] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        text = fields[1].split("%", 1)[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            logger.warning("%s: ignoring unparsable nameserver %r", path, fields[1])
            continue
        (v4 if address.version == 4 else v6).append(text)  # as written, like Istio
    return tuple(v4), tuple(v6)
