"""Policy routing for TPROXY and the ``::6`` address on ``lo`` for IPv6, over netlink.

TPROXY marks inbound packets with ``mark``; ``ip rule fwmark <mark> lookup <table>`` and a
``local default dev lo`` route in that table deliver them to the local proxy socket. IPv6's
``lo`` carries only ``::1/128``, so ``::6`` (the inbound passthrough source) is added. What
already exists is kept; if a step fails, what this call added is removed again, so the
caller's rollback of the rules leaves nothing behind. pyroute2 is imported only when a run
needs routing (about 90 ms: most runs have neither TPROXY nor IPv6).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from init.config import CaptureConfig
from init.errors import ApplyError

logger = logging.getLogger(__name__)

PASSTHROUGH_V6 = "::6"
_DOMAIN = {4: socket.AF_INET, 6: socket.AF_INET6}
_RT_SCOPE_HOST = 254


Change = tuple[str, Callable[[str], Any]]  # what, and a call taking "add" or "del"


def _changes(iproute: Any, config: CaptureConfig) -> list[Change]:
    lo = iproute.link_lookup(ifname="lo")[0]
    table, changes = config.tproxy_route_table, list[Change]()
    for family in config.families if config.tproxy else ():
        domain = _DOMAIN[family]
        dst, scope = ("0.0.0.0", _RT_SCOPE_HOST) if family == 4 else ("::", 0)
        rule = partial(iproute.rule, family=domain, fwmark=config.tproxy_mark, table=table)
        route = partial(iproute.route, dst=dst, dst_len=0, type="local", oif=lo, table=table,
                        family=domain, scope=scope)  # fmt: skip
        changes.append((f"IPv{family} rule fwmark {config.tproxy_mark} lookup {table}", rule))
        changes.append((f"IPv{family} route local default dev lo table {table}", route))
    if config.ipv6:
        address = partial(iproute.addr, index=lo, address=PASSTHROUGH_V6, prefixlen=128,
                          family=socket.AF_INET6)  # fmt: skip
        changes.append((f"address {PASSTHROUGH_V6}/128 on lo", address))
    return changes


def _apply(changes: list[Change]) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    added: list[Change] = []
    for what, call in changes:
        try:
            call("add")
            added.append((what, call))
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                continue
            for undo_what, undo in reversed(added):
                try:
                    undo("del")
                except NetlinkError as undo_exc:
                    logger.error("could not remove %s again: %s", undo_what, undo_exc)
            raise ApplyError(f"{what}: {exc.args[-1] if exc.args else exc}") from exc


def configure(config: CaptureConfig) -> None:
    """Add the TPROXY rule and routes (per family) and ``::6`` on lo, as needed."""
    if not config.tproxy and not config.ipv6:
        return
    from pyroute2 import IPRoute

    with IPRoute() as iproute:
        _apply(_changes(iproute, config))
    logger.info("routing configured (tproxy=%s, ipv6=%s)", config.tproxy, config.ipv6)
