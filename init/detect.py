"""Choose the backend: python-iptables where the kernel has legacy ``nat``, else nft restore.

The probe asks the kernel for the legacy **nat** table itself (``IPT_SO_GET_INFO``), as a
missing ``iptable_nat`` with a present ``iptable_filter`` fooled filter-table probes (Istio
#57380). It costs one raw socket and no fork.
"""

from __future__ import annotations

import _socket  # socket.py's enums and selectors are not needed for one raw socket

from init import log
from init.errors import BackendUnavailableError

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from init.config import Binary, Family, RunOptions
    from init.iptc_backend import IptcBackend
    from init.plan import Plan
    from init.restore_backend import RestoreBackend

logger = log.get_logger(__name__)

_SO_GET_INFO = 64  # IPT_SO_GET_INFO == IP6T_SO_GET_INFO
_GETINFO_SIZE = 84  # struct ipt_getinfo
_LEVEL = {4: _socket.IPPROTO_IP, 6: _socket.IPPROTO_IPV6}
_DOMAIN = {4: _socket.AF_INET, 6: _socket.AF_INET6}


def legacy_table_available(family: Family, table: str = "nat") -> bool:
    """True when the kernel serves the legacy (x_tables) ``table`` for ``family``."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(table.encode(), _GETINFO_SIZE)
    size = ctypes.c_uint32(_GETINFO_SIZE)
    try:
        sock = _socket.socket(_DOMAIN[family], _socket.SOCK_RAW, _socket.IPPROTO_RAW)
    except OSError as exc:
        logger.debug("legacy probe: raw socket failed: %s", exc)
        return False
    try:
        rc = libc.getsockopt(sock.fileno(), _LEVEL[family], _SO_GET_INFO, buf, ctypes.byref(size))
    finally:
        sock.close()
    if rc != 0:
        import errno

        logger.debug(
            "legacy %s probe (IPv%d): %s", table, family, errno.errorcode.get(ctypes.get_errno())
        )
    return bool(rc == 0)


def _unavailable(families: tuple[Family, ...]) -> BackendUnavailableError:
    return BackendUnavailableError(
        "the kernel has no legacy iptables nat table for IPv"
        + "/".join(str(f) for f in families)
        + ": load iptable_nat (and ip6table_nat), or use the nf_tables path with "
        "--force-iptables-binary nft"
    )


def _variant(binary: Binary, families: tuple[Family, ...]) -> str:
    """``legacy`` or ``nft``: as forced, else by probing (once per family, at most)."""
    if binary == "nft":
        return "nft"
    legacy = all(legacy_table_available(f) for f in families)
    if binary == "legacy" and not legacy:
        raise _unavailable(families)
    return "legacy" if legacy else "nft"


def choose_backend(
    options: RunOptions, families: tuple[Family, ...], plans: tuple[Plan, ...] = ()
) -> IptcBackend | RestoreBackend:
    """The backend to use, per --backend and --force-iptables-binary, or by probing.

    When python-iptables may be chosen, its workers for ``plans`` are forked before the
    probe, so their import overlaps it; if the probe rules python-iptables out (an nf_tables
    only kernel), they are stopped before touching anything.
    """
    iptc: IptcBackend | None = None
    if options.backend != "restore" and options.binary != "nft" and plans:
        from init.iptc_backend import IptcBackend

        iptc = IptcBackend()
        iptc.prepare(plans)
    try:
        backend = _choose(options, families, iptc)
    except BaseException:
        if iptc is not None:
            iptc.close()
        raise
    if iptc is not None and backend is not iptc:
        iptc.close()
    logger.debug("backend: %s", backend.name)
    return backend


def _choose(
    options: RunOptions, families: tuple[Family, ...], iptc: IptcBackend | None
) -> IptcBackend | RestoreBackend:
    variant = _variant(options.binary, families)
    if options.backend == "iptc" and variant == "nft":
        raise BackendUnavailableError("--backend iptc needs legacy iptables; it cannot drive nft")
    if variant == "legacy" and options.backend != "restore":
        if iptc is None:
            from init.iptc_backend import IptcBackend

            iptc = IptcBackend()
        return iptc
    from init.restore_backend import RestoreBackend

    backend = RestoreBackend("legacy" if variant == "legacy" else "nft")
    backend.binaries.check(families)
    return backend
