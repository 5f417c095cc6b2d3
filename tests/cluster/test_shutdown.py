"""SIGTERM to exit within drain + shutdown timeout + 1 s, with the real server's watches open.

Defect: the certificate manager waited 5 s for each watch thread sitting in a streaming
read, so a ``--self-managed-certs`` replica overran its budget by ~10 s.
"""

from __future__ import annotations

from pathlib import Path

from tests.cluster.harness import Cluster
from tests.cluster.webhook import Webhook

DRAIN, SHUTDOWN = 0.5, 1.0


def test_sigterm_exits_within_the_budget(
    webhook: Webhook, installed: Cluster, tmp_path: Path
) -> None:
    flags = ("--drain-seconds", str(DRAIN), "--shutdown-timeout", str(SHUTDOWN))
    replica = Webhook(installed, tmp_path, extra=flags)
    replica.start()  # ready: its Secret and webhook watches are open
    took = replica.stop()
    print(f"SIGTERM to exit: {took:.2f} s")
    assert replica.process is not None and replica.process.returncode == 0, replica.tail()
    assert took <= DRAIN + SHUTDOWN + 1.0, replica.tail()
