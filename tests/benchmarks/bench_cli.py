"""Benchmark: ``injector inject`` / ``check`` as a user runs them, against floors of the same run.

Input: a file of N Deployments shaped like a real repository's (each its own name, labels,
image, ServiceAccount, env, probes, resources, comments, a Service between them), so no
cache sees the same pod twice.

- ``inject -f FILE`` for 500 Deployments, as a subprocess (start-up included), over the floor
  ``python -c 'yaml.load_all(FILE, CSafeLoader)'`` (PyYAML's C loader just loading the same
  file, start-up included). Target: <= 8x.
- ``inject --diff`` over plain ``inject``. Target: <= 1.5x.
- ``check`` over the floor (for information).
- ``uninject`` of the 500 injected Deployments over the floor of loading that (larger) file,
  and ``uninject --values`` (which re-injects to find what else injection added) over plain
  ``uninject`` (for information); both must give the original file back.
- ``injector --help`` over ``python -c 'import yaml'``. Target: <= 3x.
- 2,000 Deployments: time over the 500 run (linear: about 4x) and peak RSS of both runs
  (memory follows the largest document, not the file: the two stay close).

Medians of a few runs each; the floors are run interleaved with the measurements.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNS = 5

DEPLOYMENT = """\
# {name}: owned by team-{team}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop-{team}
  labels:
    app: {name}
    version: v{version}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
        version: v{version}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{port}"
    spec:
      serviceAccountName: sa-{name}
      containers:
      - name: {name}
        image: "registry.example.com/team-{team}/{name}:1.{version}.{n}"
        ports:
        - containerPort: {port}
          name: http
        env:
        - name: SERVICE_NAME
          value: {name}
        - name: LOG_LEVEL
          value: "info"
        - name: DB_URL
          valueFrom:
            secretKeyRef: {{name: db-{team}, key: url}}
        resources:
          requests: {{cpu: {cpu}m, memory: {memory}Mi}}
          limits:
            memory: {memory}Mi
        readinessProbe:
          httpGet: {{path: /ready, port: {port}}}
          periodSeconds: 5
        volumeMounts:
        - name: config
          mountPath: /etc/{name}
      volumes:
      - name: config
        configMap:
          name: {name}-config
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: shop-{team}
spec:
  selector: {{app: {name}}}
  ports:
  - port: 80
    targetPort: {port}
"""


def manifest(count: int) -> str:
    docs = []
    for n in range(count):
        docs.append(
            DEPLOYMENT.format(
                name=f"svc-{n:05d}",
                team=n % 17,
                version=n % 5,
                n=n,
                replicas=1 + n % 3,
                port=8000 + n % 1000,
                cpu=100 + n % 400,
                memory=128 + n % 512,
            )
        )
    return "---\n".join(docs)


def timed(argv: list[str]) -> tuple[float, int]:
    """Wall time of one run (seconds) and its peak RSS (KiB); output is discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # `inject --diff` exits 1 when it finds changes
        raise SystemExit(f"{' '.join(argv[:3])} failed with exit code {code}")
    return elapsed, int(usage.ru_maxrss)


def median(argv: list[str], runs: int = RUNS) -> tuple[float, int]:
    samples = [timed(argv) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def main() -> int:
    injector = shutil.which("injector", path=str(BIN)) or "injector"
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp, "500.yaml"), Path(tmp, "2000.yaml")
        small.write_text(manifest(500))
        size = small.stat().st_size
        large.write_text(manifest(2000))
        load = "import sys, yaml; list(yaml.load_all(open(sys.argv[1]), Loader=yaml.CSafeLoader))"
        floor, _ = median([python, "-c", load, str(small)])
        inject, rss_small = median([injector, "inject", "-f", str(small)])
        diff, _ = median([injector, "inject", "--diff", "-f", str(small)])
        check, _ = median([injector, "check", "-f", str(small)])
        injected, values = Path(tmp, "500.injected.yaml"), Path(tmp, "values.json")
        subprocess.run([injector, "inject", "-f", str(small), "-o", str(injected)], check=True)
        values.write_text("{}")
        injected_floor, _ = median([python, "-c", load, str(injected)])
        uninject, _ = median([injector, "uninject", "-f", str(injected)])
        configured, _ = median([injector, "uninject", "--values", str(values), "-f", str(injected)])
        for extra in ([], ["--values", str(values)]):
            back = subprocess.run(
                [injector, "uninject", *extra, "-f", str(injected)], capture_output=True, text=True
            )
            if back.stdout != small.read_text():
                raise SystemExit(f"uninject {' '.join(extra)} did not give the file back")
        floor_again, _ = median([python, "-c", load, str(small)])
        big, rss_large = median([injector, "inject", "-f", str(large)], runs=3)
        import_floor, _ = median([python, "-c", "import yaml"], runs=9)
        help_time, _ = median([injector, "--help"], runs=9)
    floor = min(floor, floor_again)
    print(f"input: 500 Deployments + 500 Services ({size / 1e6:.1f} MB)")
    print(f"floor (PyYAML C loader, start-up included): {floor * 1000:.0f} ms")
    rows = [
        ("inject, 500 Deployments / floor", inject / floor, 8.0),
        ("inject --diff / inject", diff / inject, 1.5),
        ("check / floor", check / floor, None),
        ("uninject / floor of its input", uninject / injected_floor, None),
        ("uninject --values / uninject", configured / uninject, None),
        ("injector --help / python -c 'import yaml'", help_time / import_floor, 3.0),
        ("inject 2,000 / inject 500 (linear: ~4)", big / inject, None),
        ("peak RSS 2,000 / 500", rss_large / rss_small, None),
    ]
    failed = False
    for name, ratio, target in rows:
        verdict = ""
        if target is not None:
            ok = ratio <= target
            failed |= not ok
            verdict = f"(target <= {target:g}: {'ok' if ok else 'MISSED'})"
        print(f"{name:45s} {ratio:6.2f}x {verdict}")
    print(
        f"absolute (this machine, noisy): inject 500 {inject * 1000:.0f} ms, 2,000 "
        f"{big * 1000:.0f} ms, peak RSS {rss_small // 1024} / {rss_large // 1024} MiB"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
