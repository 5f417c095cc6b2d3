"""Real traffic through the applied rules: a pod netns and a peer joined by a veth pair.

The matrix runs once per backend (iptables-restore, python-iptables, native nftables). The
test proxy (uid 1337) listens on 15001/15006 (TCP) and 15053 (TCP, UDP) and reports the
original destination it reads with SO_ORIGINAL_DST; the app (uid 1000) and the remote servers
report who they are. Every assertion is about where a connection landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.init.rootutil import APP_UID, INJECTED, PROXY_UID, istio_lines, save, sidecar_init
from tests.netns import Topology, landed, pod_and_peer

pytestmark = pytest.mark.root

EXCLUDED4, EXCLUDED6 = "10.97.0.1", "fd00:97::1"
REMOTE, EXCLUDED_PORT = 7070, 7071


BACKENDS = ["restore", "iptc", "nft"]
_SAVES = {"restore": "ip6tables-legacy-save", "iptc": "ip6tables-legacy-save"}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def redirect_pod(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Topology]:
    """Istio's injected args plus DNS capture, an excluded CIDR and port, IPv4 and IPv6."""
    resolv: Path = tmp_path_factory.mktemp("dns") / "resolv.conf"
    with pod_and_peer([f"{EXCLUDED4}/32", f"{EXCLUDED6}/128"]) as topo:
        resolv.write_text(f"nameserver {topo.peer4}\nnameserver {topo.peer6}\n")
        args = (*INJECTED, "-x", f"{EXCLUDED4}/32,{EXCLUDED6}/128", "-o", str(EXCLUDED_PORT),
                "--redirect-dns", "--resolv-conf", str(resolv), "--dual-stack",
                "--backend", backend)  # fmt: skip
        done = sidecar_init(topo.pod, *args)
        assert done.returncode == 0, done.stderr
        topo.pod.serve(
            "proxy", [15001, 15006, 15053], uid=PROXY_UID, gid=PROXY_UID, udp_ports=[15053]
        )
        topo.pod.serve("app", [8080, 15021], uid=APP_UID, gid=APP_UID)
        topo.peer.serve("remote", [REMOTE, EXCLUDED_PORT, 53], udp_ports=[53])
        yield topo


def test_ipv6_was_detected_from_the_pod_address_with_dual_stack(
    redirect_pod: Topology, backend: str
) -> None:
    if backend == "nft":
        tables = redirect_pod.pod.run(["nft", "list", "tables"]).stdout
        assert "table ip6 istio-proxy-nat" in tables
    else:
        assert istio_lines(save(redirect_pod.pod, _SAVES[backend]))


@pytest.mark.parametrize("family", [4, 6])
def test_inbound_to_app_port_lands_on_15006_with_original_destination(
    redirect_pod: Topology, family: int
) -> None:
    pod = redirect_pod.pod4 if family == 4 else redirect_pod.pod6
    reply = redirect_pod.peer.connect(pod, 8080)
    assert landed(reply) == ("proxy", 15006)
    assert reply["orig"] == [pod, 8080]


@pytest.mark.parametrize("family", [4, 6])
def test_excluded_inbound_port_reaches_the_app(redirect_pod: Topology, family: int) -> None:
    pod = redirect_pod.pod4 if family == 4 else redirect_pod.pod6
    assert landed(redirect_pod.peer.connect(pod, 15021)) == ("app", 15021)


@pytest.mark.parametrize("family", [4, 6])
def test_outbound_from_app_lands_on_15001_with_original_destination(
    redirect_pod: Topology, family: int
) -> None:
    peer = redirect_pod.peer4 if family == 4 else redirect_pod.peer6
    reply = redirect_pod.pod.connect(peer, REMOTE, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("proxy", 15001)
    assert reply["orig"] == [peer, REMOTE]


@pytest.mark.parametrize(("uid", "gid"), [(PROXY_UID, APP_UID), (APP_UID, PROXY_UID)])
@pytest.mark.parametrize("family", [4, 6])
def test_proxy_uid_and_gid_bypass(redirect_pod: Topology, uid: int, gid: int, family: int) -> None:
    peer = redirect_pod.peer4 if family == 4 else redirect_pod.peer6
    assert landed(redirect_pod.pod.connect(peer, REMOTE, uid=uid, gid=gid)) == ("remote", REMOTE)


@pytest.mark.parametrize("target", [EXCLUDED4, EXCLUDED6])
def test_excluded_cidr_bypasses(redirect_pod: Topology, target: str) -> None:
    assert landed(redirect_pod.pod.connect(target, REMOTE, uid=APP_UID, gid=APP_UID)) == (
        "remote",
        REMOTE,
    )


@pytest.mark.parametrize("family", [4, 6])
def test_excluded_outbound_port_bypasses(redirect_pod: Topology, family: int) -> None:
    peer = redirect_pod.peer4 if family == 4 else redirect_pod.peer6
    reply = redirect_pod.pod.connect(peer, EXCLUDED_PORT, uid=APP_UID, gid=APP_UID)
    assert landed(reply) == ("remote", EXCLUDED_PORT)


@pytest.mark.parametrize("family", [4, 6])
def test_app_to_itself_over_loopback_and_pod_ip_is_not_captured(
    redirect_pod: Topology, family: int
) -> None:
    for host in ("127.0.0.1", redirect_pod.pod4) if family == 4 else ("::1", redirect_pod.pod6):
        assert landed(redirect_pod.pod.connect(host, 8080, uid=APP_UID, gid=APP_UID)) == (
            "app",
            8080,
        )


@pytest.mark.parametrize("family", [4, 6])
def test_proxy_to_pod_ip_hairpins_to_inbound(redirect_pod: Topology, family: int) -> None:
    pod = redirect_pod.pod4 if family == 4 else redirect_pod.pod6
    reply = redirect_pod.pod.connect(pod, 8080, uid=PROXY_UID, gid=PROXY_UID)
    assert landed(reply) == ("proxy", 15006)
    assert reply["orig"] == [pod, 8080]


@pytest.mark.parametrize("family", [4, 6])
def test_inbound_passthrough_from_127_0_0_6_reaches_the_app(
    redirect_pod: Topology, family: int
) -> None:
    pod, source = (redirect_pod.pod4, "127.0.0.6") if family == 4 else (redirect_pod.pod6, "::6")
    reply = redirect_pod.pod.connect(pod, 8080, uid=PROXY_UID, gid=PROXY_UID, bind=source)
    assert landed(reply) == ("app", 8080)
    assert reply["peer"][0] == source


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("udp", [True, False], ids=["udp", "tcp"])
def test_dns_to_the_resolver_lands_on_15053(redirect_pod: Topology, family: int, udp: bool) -> None:
    resolver = redirect_pod.peer4 if family == 4 else redirect_pod.peer6
    reply = redirect_pod.pod.connect(resolver, 53, uid=APP_UID, gid=APP_UID, udp=udp)
    assert landed(reply) == ("proxy", 15053)


@pytest.mark.parametrize("family", [4, 6])
def test_dns_from_the_proxy_reaches_the_resolver(redirect_pod: Topology, family: int) -> None:
    resolver = redirect_pod.peer4 if family == 4 else redirect_pod.peer6
    reply = redirect_pod.pod.connect(resolver, 53, uid=PROXY_UID, gid=PROXY_UID, udp=True)
    assert landed(reply) == ("remote", 53)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("family", [4, 6])
def test_tproxy_inbound_keeps_the_source_address(family: int, backend_name: str) -> None:
    with pod_and_peer() as topo:
        args = (*INJECTED, "-m", "TPROXY", "--ipv6", "on", "--backend", backend_name)
        done = sidecar_init(topo.pod, *args)
        assert done.returncode == 0, done.stderr
        topo.pod.serve("proxy", [15006], uid=0, gid=PROXY_UID, transparent=True)
        pod, peer = (topo.pod4, topo.peer4) if family == 4 else (topo.pod6, topo.peer6)
        reply = topo.peer.connect(pod, 8080)
        assert landed(reply) == ("proxy", 15006)
        assert reply["orig"] == [pod, 8080]
        assert reply["peer"][0] == peer


def test_nft_fallback_lands_rules_in_nft_and_traffic_works() -> None:
    with pod_and_peer() as topo:
        done = sidecar_init(topo.pod, *INJECTED, "--force-iptables-binary", "nft", "--ipv6", "off")
        assert done.returncode == 0, done.stderr
        assert len(istio_lines(save(topo.pod, "iptables-nft-save"))) == 22
        assert istio_lines(save(topo.pod, "iptables-legacy-save")) == []
        topo.pod.serve("proxy", [15001, 15006], uid=PROXY_UID, gid=PROXY_UID)
        reply = topo.peer.connect(topo.pod4, 8080)
        assert landed(reply) == ("proxy", 15006) and reply["orig"] == [topo.pod4, 8080]
        again = sidecar_init(topo.pod, *INJECTED, "--force-iptables-binary", "nft", "--ipv6", "off")
        assert again.returncode == 0 and "nothing to do" in again.stderr
