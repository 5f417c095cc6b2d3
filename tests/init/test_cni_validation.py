"""--run-validation as the ``istio-validation`` container runs it in CNI mode: the rules were
installed by somebody else (here Istio's own golden rule set, loaded with iptables-restore, or
an nftables ruleset loaded with nft), and sidecar-init, as the proxy user without privileges,
only proves that a connection through the redirect ports arrives at the proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.init.cases import ISTIO_DIR, NFT_DIR, restore_blocks
from tests.init.rootutil import PROXY_UID, sidecar_init_argv
from tests.netns import Netns, netns

pytestmark = pytest.mark.root

CASE = "inbound-ports-wildcard"  # Istio's -b '*' with the base flags: proxy uid/gid 1337


@pytest.fixture
def ns() -> Iterator[Netns]:
    with netns() as fresh:
        yield fresh


# The proxy user, without NET_ADMIN or any other capability but the one that lets it reach
# this interpreter (which may live under a private home directory).
AS_PROXY = ["setpriv", f"--reuid={PROXY_UID}", f"--regid={PROXY_UID}", "--clear-groups",
            "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip


def _validate(ns: Netns, timeout: str = "3s") -> tuple[int, str]:
    argv = sidecar_init_argv("--skip-rule-apply", "--run-validation", "-u", str(PROXY_UID),
                             "--ipv6", "off", "--probe-timeout", timeout)  # fmt: skip
    done = ns.run([*AS_PROXY, *argv], check=False)
    return done.returncode, done.stderr


def test_the_validation_client_has_no_net_admin(ns: Netns) -> None:
    status = ns.run([*AS_PROXY, "grep", "^CapEff", "/proc/self/status"]).stdout.split()[1]
    assert int(status, 16) & (1 << 12) == 0  # CAP_NET_ADMIN


def test_rules_installed_by_iptables_restore_validate_as_the_proxy_user(ns: Netns) -> None:
    rules = restore_blocks((ISTIO_DIR / f"{CASE}.golden").read_text())
    ns.run(["iptables-legacy-restore", "--noflush"], input=rules)
    code, err = _validate(ns)
    assert code == 0, err
    assert "validation passed" in err


def test_rules_installed_by_nft_validate_as_the_proxy_user(ns: Netns) -> None:
    ns.run(["nft", "-f", "-"], input=(NFT_DIR / f"{CASE}.nft").read_text())
    code, err = _validate(ns)
    assert code == 0, err


def test_no_rules_fails_with_126(ns: Netns) -> None:
    code, err = _validate(ns, "1s")
    assert code == 126, err
    assert "was not redirected" in err


def test_rules_for_another_proxy_uid_fail_with_126(ns: Netns) -> None:
    """Rules for uid 1338: a probe from 1337 leaves through lo uncaptured."""
    rules = restore_blocks((ISTIO_DIR / f"{CASE}.golden").read_text())
    ns.run(["iptables-legacy-restore", "--noflush"], input=rules.replace("1337", "1338"))
    code, err = _validate(ns, "1s")
    assert code == 126, err
    assert "was not redirected" in err
