"""Policy routing for TPROXY and the ``::6`` address on ``lo`` for IPv6, over netlink.

TPROXY marks inbound packets with ``mark``; ``ip rule fwmark <mark> lookup <table>`` and a
``local default dev lo`` route in that table deliver them to the local proxy socket. IPv6's
``lo`` carries only ``::1/128``, so ``::6`` (the inbound passthrough source) is added. Uses
pyroute2 when it imports, else the ``ip`` program; both are idempotent.
"""

from __future__ import annotations

import errno
import subprocess

from init import log
from init.errors import ApplyError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import Any

    from init.config import CaptureConfig, Family

logger = log.get_logger(__name__)

PASSTHROUGH_V6 = "::6"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0 and "File exists" not in done.stderr:
        raise ApplyError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _with_ip(config: CaptureConfig) -> None:
    mark, table = str(config.tproxy_mark), str(config.tproxy_route_table)
    for family in config.families if config.tproxy else ():
        flag = f"-{family}"
        _ip(flag, "rule", "add", "fwmark", mark, "lookup", table)
        _ip(flag, "route", "add", "local", "default", "dev", "lo", "table", table)
    if config.ipv6:
        _ip("-6", "addr", "add", f"{PASSTHROUGH_V6}/128", "dev", "lo")


def _ignore_exists(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except Exception as exc:  # pyroute2's NetlinkError carries the errno in .code
        if getattr(exc, "code", None) != errno.EEXIST:
            raise ApplyError(f"netlink: {exc}") from exc


def _with_netlink(iproute: Any, config: CaptureConfig) -> None:
    import socket

    lo = iproute.link_lookup(ifname="lo")[0]
    domains: dict[Family, int] = {4: socket.AF_INET, 6: socket.AF_INET6}
    for family in config.families if config.tproxy else ():
        table = config.tproxy_route_table
        _ignore_exists(
            iproute.rule, "add", family=domains[family], fwmark=config.tproxy_mark, table=table
        )
        dst, scope = ("0.0.0.0", 254) if family == 4 else ("::", 0)  # 254: RT_SCOPE_HOST
        _ignore_exists(iproute.route, "add", dst=dst, dst_len=0, type="local", oif=lo, table=table,
                       family=domains[family], scope=scope)  # fmt: skip
    if config.ipv6:
        _ignore_exists(
            iproute.addr,
            "add",
            index=lo,
            address=PASSTHROUGH_V6,
            prefixlen=128,
            family=socket.AF_INET6,
        )


def configure(config: CaptureConfig) -> None:
    """Add the TPROXY rule and routes (per family) and ``::6`` on lo, as needed."""
    if not config.tproxy and not config.ipv6:
        return
    try:
        from pyroute2 import IPRoute
    except ImportError:
        logger.debug("pyroute2 unavailable; using the ip program")
        _with_ip(config)
        return
    with IPRoute() as iproute:
        _with_netlink(iproute, config)
    logger.info("routing configured (tproxy=%s, ipv6=%s)", config.tproxy, config.ipv6)
