"""Network namespaces, veth pairs and test servers for root tests of traffic capture.

Reusable API (everything cleans up after itself, also when a test fails):

- :func:`netns` – context manager: a fresh, uniquely named netns with ``lo`` up.
- :func:`pod_and_peer` – context manager: a "pod" and a "peer" netns joined by a veth pair
  (``eth0`` on both sides), IPv4 and IPv6, the pod's default routes via the peer. Yields a
  :class:`Topology` with the addresses.
- :meth:`Netns.run` / :meth:`Netns.spawn` – run a command inside the netns, optionally as
  another uid/gid (``setpriv``).
- :meth:`Netns.serve` – start a server of this file (see the ``serve`` command below) and wait
  until it listens. Roles: ``proxy`` (reads ``SO_ORIGINAL_DST``; ``--transparent`` for TPROXY)
  and anything else as a plain echo (``app``, ``remote``, ...). Each accepted connection (or
  UDP datagram) gets one JSON line back:
  ``{"role", "port", "orig": [ip, port], "peer": [ip, port], "local": [ip, port]}``.
- :meth:`Netns.connect` – run the ``client`` command in the netns (as a uid/gid, optionally
  bound to a source address) and return the server's JSON reply, or ``{"error": ...}``.

Run as a script (``python tests/netns.py serve|client ...``) it is the server or the client.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import select
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON = sys.executable
SCRIPT = str(Path(__file__).resolve())
SO_ORIGINAL_DST = 80
_counter = itertools.count()


def unique_name(prefix: str) -> str:
    """A netns name unique on this machine: prefix, pid, counter."""
    return f"{prefix}{os.getpid()}x{next(_counter)}"


@dataclass
class Netns:
    """A named network namespace and the processes started in it."""

    name: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def command(
        self, argv: Sequence[str], uid: int | None = None, gid: int | None = None
    ) -> list[str]:
        prefix = ["ip", "netns", "exec", self.name]
        if uid is not None or gid is not None:
            ids = [
                f"--reuid={uid if uid is not None else 0}",
                f"--regid={gid if gid is not None else 0}",
            ]
            prefix += ["setpriv", *ids, "--clear-groups"]
        return prefix + list(argv)

    def run(
        self,
        argv: Sequence[str],
        uid: int | None = None,
        gid: int | None = None,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv, uid, gid), capture_output=True, text=True, check=check,
            input=input, env=env, timeout=timeout,
        )  # fmt: skip

    def spawn(
        self, argv: Sequence[str], uid: int | None = None, gid: int | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.command(argv, uid, gid), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.processes.append(proc)
        return proc

    def serve(
        self,
        role: str,
        ports: Sequence[int],
        uid: int = 0,
        gid: int = 0,
        udp_ports: Sequence[int] = (),
        transparent: bool = False,
    ) -> subprocess.Popen[str]:
        argv = [PYTHON, SCRIPT, "serve", role, ",".join(map(str, ports))]
        if udp_ports:
            argv += ["--udp", ",".join(map(str, udp_ports))]
        if transparent:
            argv.append("--transparent")
        proc = self.spawn(argv, uid, gid)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            proc.kill()
            raise RuntimeError(
                f"{role} server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        return proc

    def connect(self, host: str, port: int, uid: int = 0, gid: int = 0, bind: str | None = None,
                udp: bool = False, timeout: float = 2.0) -> dict[str, Any]:  # fmt: skip
        argv = [PYTHON, SCRIPT, "client", host, str(port), "--timeout", str(timeout)]
        if bind:
            argv += ["--bind", bind]
        if udp:
            argv.append("--udp")
        done = self.run(argv, uid, gid, check=False, timeout=timeout + 10)
        try:
            reply: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"error": f"no reply: {done.stdout!r} {done.stderr!r}"}
        return reply

    def stop_processes(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self.processes.clear()


@contextlib.contextmanager
def netns(prefix: str = "sci") -> Iterator[Netns]:
    """A fresh netns with lo up; deleted (and its processes killed) on exit."""
    ns = Netns(unique_name(prefix))
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True)
        yield ns
    finally:
        ns.stop_processes()
        subprocess.run(["ip", "netns", "del", ns.name], check=False)


@dataclass(frozen=True)
class Topology:
    """A pod and its peer; ``pod4``/``peer4`` and ``pod6``/``peer6`` are their addresses."""

    pod: Netns
    peer: Netns
    pod4: str = "10.99.0.2"
    peer4: str = "10.99.0.1"
    pod6: str = "fd00:99::2"
    peer6: str = "fd00:99::1"


def _ip(ns: Netns, *args: str) -> None:
    subprocess.run(["ip", "-n", ns.name, *args], check=True, capture_output=True)


@contextlib.contextmanager
def pod_and_peer(extra_peer_addresses: Sequence[str] = ()) -> Iterator[Topology]:
    """Two netns joined by a veth pair; ``extra_peer_addresses`` (CIDRs) go on the peer's lo."""
    with netns("scpod") as pod, netns("scpeer") as peer:
        subprocess.run(
            ["ip", "link", "add", "eth0", "netns", pod.name, "type", "veth",
             "peer", "name", "eth0", "netns", peer.name], check=True,
        )  # fmt: skip
        topo = Topology(pod, peer)
        for ns, v4, v6 in ((pod, topo.pod4, topo.pod6), (peer, topo.peer4, topo.peer6)):
            _ip(ns, "addr", "add", f"{v4}/24", "dev", "eth0")
            _ip(ns, "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
            _ip(ns, "link", "set", "eth0", "up")
        _ip(pod, "route", "add", "default", "via", topo.peer4)
        _ip(pod, "-6", "route", "add", "default", "via", topo.peer6)
        for cidr in extra_peer_addresses:
            _ip(peer, "addr", "add", cidr, "dev", "lo")
        yield topo


# ---- the in-netns programs ------------------------------------------------------------


def _address(sock: socket.socket) -> list[Any]:
    return list(sock.getsockname()[:2])


def _original(conn: socket.socket, transparent: bool) -> list[Any]:
    if transparent:  # TPROXY: the socket's local address is the original destination
        return _address(conn)
    if conn.family == socket.AF_INET6:
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        return [socket.inet_ntop(socket.AF_INET6, raw[8:24]), struct.unpack_from("!H", raw, 2)[0]]
    raw = conn.getsockopt(socket.IPPROTO_IP, SO_ORIGINAL_DST, 16)
    return [socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack_from("!H", raw, 2)[0]]


def _listeners(ports: list[int], udp: list[int], transparent: bool) -> list[socket.socket]:
    socks = []
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for kind, port_list in ((socket.SOCK_STREAM, ports), (socket.SOCK_DGRAM, udp)):
            for port in port_list:
                sock = socket.socket(family, kind)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if transparent:
                    level = socket.SOL_IP if family == socket.AF_INET else socket.IPPROTO_IPV6
                    sock.setsockopt(
                        level, socket.IP_TRANSPARENT if family == socket.AF_INET else 75, 1
                    )
                sock.bind((host, port))
                if kind == socket.SOCK_STREAM:
                    sock.listen(64)
                socks.append(sock)
    return socks


def _answer_tcp(role: str, sock: socket.socket, transparent: bool) -> None:
    conn, peer = sock.accept()
    with conn:
        try:
            orig = _original(conn, transparent) if role == "proxy" else _address(conn)
        except OSError:
            orig = None
        reply = {"role": role, "port": sock.getsockname()[1], "orig": orig,
                 "peer": list(peer[:2]), "local": _address(conn)}  # fmt: skip
        conn.sendall((json.dumps(reply) + "\n").encode())


def _answer_udp(role: str, sock: socket.socket) -> None:
    data, peer = sock.recvfrom(2048)
    reply = {"role": role, "port": sock.getsockname()[1], "orig": None, "peer": list(peer[:2]),
             "local": _address(sock), "udp": True}  # fmt: skip
    sock.sendto((json.dumps(reply) + "\n").encode(), peer)


def serve(role: str, ports: list[int], udp: list[int], transparent: bool) -> None:
    socks = _listeners(ports, udp, transparent)
    print("READY", flush=True)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for sock in ready:
            with contextlib.suppress(OSError):
                if sock.type == socket.SOCK_STREAM:
                    _answer_tcp(role, sock, transparent)
                else:
                    _answer_udp(role, sock)


def client(host: str, port: int, bind: str | None, udp: bool, timeout: float) -> dict[str, Any]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            if bind:
                sock.bind((bind, 0))
            if udp:
                sock.sendto(b"query", (host, port))
                data = sock.recv(2048)
            else:
                sock.connect((host, port))
                data = sock.makefile().readline().encode()
            reply: dict[str, Any] = json.loads(data)
            return reply
        except (OSError, ValueError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}


def landed(reply: dict[str, Any]) -> tuple[str, int]:
    """Where a connection landed: the answering listener's (role, port); fails on an error."""
    assert "error" not in reply, reply
    return reply["role"], reply["port"]


def _main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("role")
    s.add_argument("ports")
    s.add_argument("--udp", default="")
    s.add_argument("--transparent", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--bind")
    c.add_argument("--udp", action="store_true")
    c.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        ints = [int(p) for p in args.ports.split(",") if p]
        serve(args.role, ints, [int(p) for p in args.udp.split(",") if p], args.transparent)
    else:
        print(
            json.dumps(client(args.host, args.port, args.bind, args.udp, args.timeout)), flush=True
        )


if __name__ == "__main__":
    _main(sys.argv[1:])
