"""``--run-validation``: prove that a connection from the proxy uid is redirected.

Istio's check: listen on 127.0.0.1 at the outbound and inbound capture ports, dial
``127.0.0.6:<probe port>`` from 127.0.0.1 as the proxy uid/gid, and accept once the listener
reads ``SO_ORIGINAL_DST`` equal to the probe port. (The rule ``-o lo ! -d 127.0.0.1/32 -m owner
--uid-owner <proxy> -j ISTIO_IN_REDIRECT`` is what sends the dial to the inbound port.) The
client runs in a forked child that drops to the proxy uid; IPv6 uses ``[::1]`` and ``::6``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Iterator

from init import host
from init.config import CaptureConfig, Family
from init.errors import ConfigError, ValidationFailedError

logger = logging.getLogger(__name__)

SO_ORIGINAL_DST = 80
_LOOPBACK: dict[Family, str] = {4: "127.0.0.1", 6: "::1"}
_PROBE_DST: dict[Family, str] = {4: "127.0.0.6", 6: "::6"}
_DOMAIN: dict[Family, int] = {4: socket.AF_INET, 6: socket.AF_INET6}
_LEVEL: dict[Family, int] = {4: socket.IPPROTO_IP, 6: socket.IPPROTO_IPV6}
RETRY_SECONDS = 0.2


def original_port(conn: socket.socket, family: Family) -> int:
    """The destination port a connection had before NAT redirected it."""
    raw = conn.getsockopt(_LEVEL[family], SO_ORIGINAL_DST, 28 if family == 6 else 16)
    port: int = struct.unpack_from("!H", raw, 2)[0]
    return port


def proxy_ids(config: CaptureConfig) -> tuple[int, int]:
    """The numeric uid and gid the probe client runs as; ConfigError for an unknown name."""
    uid_name, gid_name = config.proxy_uids[0], config.proxy_gids[0]
    uid, gid = host.owner_id(uid_name, "uid"), host.owner_id(gid_name, "gid")
    if uid is None:
        raise ConfigError(
            f"--run-validation: proxy uid {uid_name!r} (--proxy-uid) is not a known user name; "
            "give a numeric uid"
        )
    if gid is None:
        raise ConfigError(
            f"--run-validation: proxy gid {gid_name!r} (--proxy-gid, else --proxy-uid) is not a "
            "known group name; give a numeric gid"
        )
    return uid, gid


@contextlib.contextmanager
def _listeners(config: CaptureConfig, family: Family) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for port in (config.proxy_port, config.inbound_capture_port):
            sock = socket.socket(_DOMAIN[family], socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((_LOOPBACK[family], port))
            sock.listen(16)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _client(ids: tuple[int, int], family: Family, probe_port: int, deadline: float) -> None:
    """Child process: become the proxy user, dial the probe address until told to stop."""
    uid, gid = ids
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    while time.monotonic() < deadline:
        with socket.socket(_DOMAIN[family], socket.SOCK_STREAM) as sock:
            sock.settimeout(RETRY_SECONDS)
            with contextlib.suppress(OSError):
                sock.bind((_LOOPBACK[family], 0))
                sock.connect((_PROBE_DST[family], probe_port))
        time.sleep(RETRY_SECONDS)


def _serve(socks: list[socket.socket], family: Family, probe_port: int, deadline: float) -> bool:
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(socks, [], [], left)
        for sock in ready:
            conn, _ = sock.accept()
            with conn:
                port = original_port(conn, family)
            logger.debug(
                "validation: accepted on %d, original port %d", sock.getsockname()[1], port
            )
            if port == probe_port:
                return True
    return False


def validate_family(
    config: CaptureConfig,
    family: Family,
    probe_port: int,
    timeout: float,
    ids: tuple[int, int] | None = None,
) -> bool:
    """True once a probe connection arrives redirected with its original port intact.

    ``ids``: the client's uid and gid, resolved (by :func:`proxy_ids`) before forking.
    """
    ids = proxy_ids(config) if ids is None else ids
    deadline = time.monotonic() + timeout
    with _listeners(config, family) as socks:
        pid = os.fork()
        if pid == 0:
            try:
                _client(ids, family, probe_port, deadline)
            finally:
                os._exit(0)
        try:
            return _serve(socks, family, probe_port, deadline)
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def run_validation(config: CaptureConfig, probe_port: int, timeout: float) -> None:
    """Raise ValidationFailedError unless redirection works for every enabled family."""
    ids = proxy_ids(config)
    for family in config.families:
        try:
            ok = validate_family(config, family, probe_port, timeout, ids)
        except OSError as exc:
            raise ValidationFailedError(f"IPv{family} validation could not run: {exc}") from exc
        if not ok:
            raise ValidationFailedError(
                f"IPv{family}: a connection from uid {config.proxy_uids[0]} to "
                f"{_PROBE_DST[family]}:{probe_port} was not redirected to "
                f"{config.inbound_capture_port} within {timeout:g}s; check that the capture "
                "rules are installed in this pod's netns (iptables-save -t nat shows "
                "ISTIO_OUTPUT), and with Istio CNI that the node agent was ready"
            )
        logger.info("IPv%d validation passed", family)
