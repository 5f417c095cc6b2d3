"""Benchmark: pod creates through a real kube-apiserver, with and without the webhook.

200 back-to-back creates from one client (pods shaped by the server itself: each gets its
own ServiceAccount volume name and uid) into a plain namespace (the floor, same run), then
into an injected namespace with ``reinvocationPolicy: IfNeeded`` and with the
shipped ``Never``. Reports pods/s, the ratio to the floor, webhook calls per pod and the server's
own mean webhook latency per call (``apiserver_admission_webhook_admission_duration_seconds``).
Needs ``KUBEBUILDER_ASSETS`` (see tests/cluster); prints a hint and exits 0 without it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.cluster.controlplane import ControlPlane, unavailable_reason  # noqa: E402
from tests.cluster.harness import MANIFESTS, Cluster, pod_body  # noqa: E402
from tests.cluster.webhook import Webhook, point_webhooks_at  # noqa: E402

CREATES = 200
ROUNDS = 2  # the two policies alternate: this machine's noise hits both


def creates_per_second(cluster: Cluster, core: Any, namespace: str, tag: str) -> float:
    started = time.perf_counter()
    for i in range(CREATES):
        core.create_namespaced_pod(namespace, pod_body(f"{tag}-{i}"), _preload_content=False)
    return CREATES / (time.perf_counter() - started)


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    plane = ControlPlane.start()
    replica: Webhook | None = None
    try:
        cluster = Cluster(plane)
        cluster.kubectl("apply", "--server-side", "-k", str(MANIFESTS))
        replica = Webhook(cluster, Path(tempfile.mkdtemp(prefix="bench-cluster-")))
        point_webhooks_at(cluster, replica.url)
        replica.start()
        core = cluster.core()
        plain = cluster.namespace("bench-plain")
        enabled = cluster.namespace("bench-enabled", {"istio-injection": "enabled"})
        creates_per_second(cluster, core, plain, "warm")  # connections, caches
        floor = creates_per_second(cluster, core, plain, "floor")
        print(f"no webhook: {floor:.0f} pods/s")
        for round_, policy in enumerate(("IfNeeded", "Never") * ROUNDS):
            cluster.set_reinvocation(policy)
            time.sleep(1)  # the server's webhook configuration informer
            seconds0, calls0 = cluster.webhook_totals()
            rate = creates_per_second(cluster, core, enabled, f"{policy.lower()}-{round_}")
            seconds1, calls1 = cluster.webhook_totals()
            calls = calls1 - calls0
            mean_ms = 1000 * (seconds1 - seconds0) / calls if calls else float("nan")
            print(
                f"reinvocationPolicy {policy}: {rate:.0f} pods/s ({rate / floor:.2f} of the "
                f"floor), {calls / CREATES:.2f} webhook calls per pod, server-side mean "
                f"{mean_ms:.2f} ms per call"
            )
    finally:
        if replica is not None:
            replica.stop()
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
