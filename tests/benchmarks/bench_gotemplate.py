"""Benchmark: the ``sidecar`` template in Istio's Go syntax against our Jinja2 one.

Both run over the same per-pod contexts, built from pods shaped like the API server's: each
has its own name, uid and ServiceAccount token volume, so nothing is served from a cache.
Printed: the median time of one render (template text -> partial pod) for each syntax, and
of one whole cold injection (``cache_bytes=0``) with each, and the Go/Jinja ratios; target
for the render: Go <= 1.5 x Jinja. Parsing is timed too (it happens once per config load).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from injector import context, identity, render_cache, template  # noqa: E402
from injector.config import InjectorConfig, load_config  # noqa: E402
from injector.core import InjectionParams, Injector  # noqa: E402

HELLO = ROOT / "tests" / "testdata" / "webhook" / "hello-review.json"
GO_SIDECAR = ROOT / "tests" / "testdata" / "gotemplate" / "sidecar.tmpl"
PARAMS = InjectionParams(namespace="default")
PODS = 200


def pods() -> list[dict[str, Any]]:
    base = json.loads(HELLO.read_text())["request"]["object"]
    out = []
    for i in range(PODS):
        pod = copy.deepcopy(base)
        pod["metadata"]["name"] = f"hello-{i:05x}"
        pod["metadata"]["uid"] = f"00000000-0000-0000-0000-{i:012x}"
        pod["spec"].setdefault("volumes", []).append(
            {"name": f"kube-api-access-{i:05x}", "projected": {"sources": []}}
        )
        out.append(pod)
    return out


def contexts(config: InjectorConfig, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for pod in batch:
        meta = {**pod["metadata"], "namespace": "default"}
        workload = identity.from_pod(meta, "default")
        settings = context.settings({"metadata": meta}, config, workload, None)
        ctx = context.build({"metadata": meta, "spec": pod["spec"]}, config, settings)
        out.append(ctx.variables(render_cache.Trace()))
    return out


def median_us(fn: Callable[[Any], Any], items: list[Any], rounds: int = 5) -> float:
    for item in items[:20]:
        fn(item)
    samples = []
    for _ in range(rounds):
        for item in items:
            start = time.perf_counter()
            fn(item)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> int:
    jinja_config = load_config()
    source = GO_SIDECAR.read_text()
    start = time.perf_counter()
    go_sidecar = template.compile_template("sidecar", source)
    parse_ms = (time.perf_counter() - start) * 1000
    go_config = dataclasses.replace(
        jinja_config, templates={**jinja_config.templates, "sidecar": go_sidecar}
    )
    batch = pods()
    ctxs = contexts(jinja_config, batch)
    jinja_t, go_t = jinja_config.templates["sidecar"], go_config.templates["sidecar"]
    jinja_us = median_us(lambda c: template.render("sidecar", jinja_t, c), ctxs)
    go_us = median_us(lambda c: template.render("sidecar", go_t, c), ctxs)
    cold_jinja, cold_go = Injector(jinja_config, cache_bytes=0), Injector(go_config, cache_bytes=0)
    inject_jinja = median_us(lambda p: cold_jinja.inject(p, PARAMS), batch, rounds=2)
    inject_go = median_us(lambda p: cold_go.inject(p, PARAMS), batch, rounds=2)
    print(f"sidecar template over {PODS} distinct pods (median per pod)")
    print(f"  parse Go template once   {parse_ms:8.1f} ms")
    print(f"  render, Jinja2           {jinja_us:8.0f} us")
    print(f"  render, Go syntax        {go_us:8.0f} us   ({go_us / jinja_us:.2f} x Jinja2)")
    print(f"  cold inject, Jinja2      {inject_jinja:8.0f} us")
    print(f"  cold inject, Go syntax   {inject_go:8.0f} us   ({inject_go / inject_jinja:.2f} x)")
    ratio = go_us / jinja_us
    if ratio > 1.5:
        print(f"FAIL: Go render is {ratio:.2f} x Jinja2 (target <= 1.5)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
