"""Which backend this node can use: kernel tables and programs, probed; nothing applied.

``--backend auto`` (the default) picks ``iptables-restore``: the legacy variant where the
kernel serves the legacy **nat** table for every family (asked with ``IPT_SO_GET_INFO``, as a
missing ``iptable_nat`` with a present ``iptable_filter`` fooled filter-table probes, Istio
#57380), else the nf_tables variant; on a node image without iptables programs, native
nftables. ``--backend``, ``--force-iptables-binary`` and ``--native-nftables`` override.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import shutil
import socket

from init.config import Binary, Family, RunOptions
from init.errors import BackendUnavailableError
from init.iptc_backend import IptcBackend
from init.nft_backend import NftBackend
from init.restore_backend import RestoreBackend

logger = logging.getLogger(__name__)

Backend = RestoreBackend | IptcBackend | NftBackend
_SO_GET_INFO = 64  # IPT_SO_GET_INFO == IP6T_SO_GET_INFO
_GETINFO_SIZE = 84  # struct ipt_getinfo
_LEVEL = {4: socket.IPPROTO_IP, 6: socket.IPPROTO_IPV6}
_DOMAIN = {4: socket.AF_INET, 6: socket.AF_INET6}


def legacy_table_available(family: Family, table: str = "nat") -> bool:
    """True when the kernel serves the legacy (x_tables) ``table`` for ``family``.

    BackendUnavailableError when this process may not even ask (no CAP_NET_RAW).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(table.encode(), _GETINFO_SIZE)
    size = ctypes.c_uint32(_GETINFO_SIZE)
    try:
        sock = socket.socket(_DOMAIN[family], socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError as exc:  # no backend can work without it
        raise BackendUnavailableError(
            f"cannot open a raw socket to probe the kernel's tables: {exc.strerror} (the init "
            "container needs the NET_ADMIN and NET_RAW capabilities)"
        ) from exc
    except OSError as exc:
        logger.debug("legacy probe: raw socket failed: %s", exc)
        return False
    with sock:
        rc = libc.getsockopt(sock.fileno(), _LEVEL[family], _SO_GET_INFO, buf, ctypes.byref(size))
    if rc != 0:
        code = errno.errorcode.get(ctypes.get_errno())
        logger.debug("legacy %s probe (IPv%d): %s", table, family, code)
    return bool(rc == 0)


def _no_legacy(families: tuple[Family, ...]) -> BackendUnavailableError:
    return BackendUnavailableError(
        "the kernel has no legacy iptables nat table for IPv"
        + "/".join(str(f) for f in families)
        + ": load iptable_nat (and ip6table_nat), or use --force-iptables-binary nft "
        "or --backend nft"
    )


def _variant(binary: Binary, families: tuple[Family, ...]) -> str:
    """``legacy`` or ``nft``: as forced, else by probing (once per family, at most)."""
    if binary == "nft":
        return "nft"
    legacy = all(legacy_table_available(f) for f in families)
    if binary == "legacy" and not legacy:
        raise _no_legacy(families)
    return "legacy" if legacy else "nft"


def _has_iptables(families: tuple[Family, ...]) -> bool:
    names = [
        f"{'ip6' if f == 6 else 'ip'}tables-{v}-restore"
        for f in families
        for v in ("legacy", "nft")
    ]
    return any(shutil.which(name) for name in names)


def choose_backend(options: RunOptions, families: tuple[Family, ...]) -> Backend:
    """The backend to use, per the flags or by probing; BackendUnavailableError if none."""
    choice = options.backend
    if choice == "auto" and not options.binary and not _has_iptables(families):
        choice = "nft" if shutil.which("nft") else "restore"  # restore: names what is missing
    backend: Backend
    if choice == "nft":
        backend = NftBackend()
    elif choice == "iptc":
        if options.binary == "nft" or not all(legacy_table_available(f) for f in families):
            raise BackendUnavailableError(
                "--backend iptc needs the kernel's legacy iptables tables; it cannot drive "
                "nf_tables (use --backend restore or nft)"
            )
        backend = IptcBackend()
    else:
        backend = RestoreBackend(
            "legacy" if _variant(options.binary, families) == "legacy" else "nft"
        )
    backend.check(families)
    logger.debug("backend: %s", backend.name)
    return backend
