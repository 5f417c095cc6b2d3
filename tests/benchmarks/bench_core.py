"""Benchmark: in-process injection cost (no HTTP), as the webhook calls it.

- hello pod: median ``Injector.inject`` time, and its ratio to ``json.loads + json.dumps`` of
  the same pod measured in the same run (a machine-independent yardstick);
- pods with 1,000 and 2,000 env vars: median ms cache-hot (render cache hit, the ReplicaSet
  case) and cache-cold (``cache_bytes=0``: every call renders), and the 2000/1000 ratio
  (linear growth: <= 2.2); target: 1,000 env vars <= 10 ms;
- our linear patch vs ``jsonpatch.make_patch(original, injected)`` on the 1,000-env pod;
- the whole ``admission.review`` step (orjson decode of the body included) for the large pod.
"""

from __future__ import annotations

import copy
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from injector import patch  # noqa: E402
from injector.config import load_config  # noqa: E402
from injector.core import Injected, InjectionParams, Injector  # noqa: E402
from injector.webhook import admission  # noqa: E402

TESTDATA = ROOT / "tests" / "testdata" / "webhook"
PARAMS = InjectionParams(namespace="default")


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def env_pod(count: int) -> dict[str, Any]:
    env = [{"name": f"VAR_{i:05d}", "value": f"value-{i}"} for i in range(count)]
    return {
        "metadata": {"name": f"env-{count}", "namespace": "default", "labels": {"app": "env"}},
        "spec": {"containers": [{"name": "app", "image": "example.com/app:1", "env": env}]},
    }


def main() -> int:
    config = load_config()
    hot = Injector(config)
    cold = Injector(config, cache_bytes=0)
    hello = json.loads((TESTDATA / "hello-review.json").read_text())["request"]["object"]

    inject_hello = median_ms(lambda: hot.inject(hello, PARAMS), 2000)
    inject_hello_cold = median_ms(lambda: cold.inject(hello, PARAMS), 200)
    json_round_trip = median_ms(lambda: json.dumps(json.loads(json.dumps(hello))), 2000)
    print("hello pod")
    print(f"  inject, cache hot        {inject_hello:8.3f} ms")
    print(f"  inject, cache cold       {inject_hello_cold:8.3f} ms")
    print(
        f"  json.loads + json.dumps  {json_round_trip:8.3f} ms   "
        f"(inject hot = {inject_hello / json_round_trip:.0f} x)"
    )

    print("pods with N env vars (one container)")
    results: dict[tuple[int, str], float] = {}
    for count in (1000, 2000):
        pod = env_pod(count)
        results[count, "hot"] = median_ms(functools.partial(hot.inject, pod, PARAMS), 100)
        results[count, "cold"] = median_ms(functools.partial(cold.inject, pod, PARAMS), 30)
        print(
            f"  {count:>5} env: cache hot {results[count, 'hot']:7.2f} ms   "
            f"cache cold {results[count, 'cold']:7.2f} ms"
        )
    for mode in ("hot", "cold"):
        ratio = results[2000, mode] / results[1000, mode]
        verdict = "ok" if ratio <= 2.2 else "MISSED"
        print(f"  2000/1000 ratio, cache {mode}: {ratio:.2f} (<= 2.2: {verdict})")
    worst = max(results[1000, "hot"], results[1000, "cold"])
    print(f"  1000 env <= 10 ms: {'ok' if worst <= 10 else 'MISSED'} (worst {worst:.2f} ms)")

    pod = env_pod(1000)
    outcome = hot.inject(pod, PARAMS)
    assert isinstance(outcome, Injected)
    ours = median_ms(lambda: patch.make_patch(pod, outcome.pod), 200)
    plain_pod, plain_injected = copy.deepcopy(pod), copy.deepcopy(outcome.pod)
    theirs = median_ms(lambda: jsonpatch.make_patch(plain_pod, plain_injected), 20)
    print("patch building, 1,000-env pod")
    print(f"  patch.make_patch         {ours:8.3f} ms   ({len(outcome.patch)} ops)")
    print(f"  jsonpatch.make_patch     {theirs:8.3f} ms   ({theirs / ours:.0f} x slower)")

    body = (TESTDATA / "large-pod-review.json").read_bytes()
    body = orjson.dumps(orjson.loads(body))
    review_hot = median_ms(lambda: admission.review(orjson.loads(body), hot), 500)
    review_cold = median_ms(lambda: admission.review(orjson.loads(body), cold), 50)
    decode = median_ms(lambda: orjson.loads(body), 500)
    print(f"large pod admission.review ({len(body) / 1024:.1f} KiB body, decode included)")
    print(
        f"  cache hot {review_hot:.3f} ms   cache cold {review_cold:.3f} ms   "
        f"(orjson.loads alone {decode:.3f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
