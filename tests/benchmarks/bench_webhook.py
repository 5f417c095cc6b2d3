"""Benchmark: the real ``injector serve`` over TLS on loopback, driven by ``wrk`` (keep-alive).

For the hello pod and a large pod (3 containers x 40 env vars, probes, managedFields; ~27 KB)
it measures, on the same server stack with the same TLS:

- floor:  ``POST /floor`` (bench-only route): reads the body, answers a fixed response;
- inject, replicas: ``POST /inject`` as deployed: a repeated body is what the pods of one
  ReplicaSet look like, so the admission memo answers all but the first;
- inject, memo off: ``INJECTOR_BENCH_MEMO_SIZE=0``: every request runs the injection core
  (the render cache still serves the template: its output only depends on the pod template);
- inject, all caches off: also ``INJECTOR_BENCH_CACHE_SIZE=0``: every request renders the
  template, as the first pod of every new workload does.

Prints req/s, p50, p99 and the ratio to the floor. Targets: hello >= 0.6 x floor, large >=
0.4 x floor. Not a test (load generator and server share the machine's cores).
The machine is shared, so every figure is the best of ``BENCH_ROUNDS`` (3) interleaved runs
of ``BENCH_SECONDS`` (5) each, after a 1 s warm-up. Env also: ``BENCH_CONNECTIONS`` (8).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.webhook.conftest import free_port, make_certs, serve_command  # noqa: E402

TESTDATA = ROOT / "tests" / "testdata" / "webhook"
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), errors))
end
"""


def start_server(certs_dir: Path, caches: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INJECTOR_BENCH_FLOOR": "1", **caches}
    quiet = ("--log-level", "warning", "--drain-seconds", "0")
    command = serve_command(port, certs_dir / "tls.crt", certs_dir / "tls.key", *quiet)
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"https://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    requests, duration_us, p50, p99, errors = (int(g) for g in match.groups())
    if errors:
        raise SystemExit(f"wrk saw {errors} errors (non-2xx or socket errors) on {url}")
    return {"rps": requests / (duration_us / 1e6), "p50": p50 / 1000, "p99": p99 / 1000}


def measure(url: str, script: Path) -> dict[str, float]:
    wrk(url, script, 1)  # warm-up: connections, caches, allocator
    return wrk(url, script, SECONDS)


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=lambda r: r["rps"])


def row(label: str, result: dict[str, float], floor: dict[str, float] | None) -> str:
    ratio = f"{result['rps'] / floor['rps']:.2f} x floor" if floor else ""
    figures = (
        f"{result['rps']:>8.0f} req/s   p50 {result['p50']:6.2f} ms   p99 {result['p99']:6.2f} ms"
    )
    return f"  {label:<26} {figures}   {ratio}"


VARIANTS = {
    "replicas": {},
    "memo off": {"INJECTOR_BENCH_MEMO_SIZE": "0"},
    "all caches off": {"INJECTOR_BENCH_MEMO_SIZE": "0", "INJECTOR_BENCH_CACHE_SIZE": "0"},
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        work = Path(tmp)
        certs = make_certs(work / "certs")
        scripts = {}
        for name in ("hello", "large"):
            review = json.loads(
                (
                    TESTDATA / f"{name}-pod-review.json"
                    if name == "large"
                    else TESTDATA / "hello-review.json"
                ).read_text()
            )
            body = work / f"{name}.json"
            body.write_bytes(json.dumps(review, separators=(",", ":")).encode())
            scripts[name] = (work / f"{name}.lua", body.stat().st_size)
            scripts[name][0].write_text(LUA % {"body": body})
        print(
            f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, best of {ROUNDS}, keep-alive, TLS (EC P-256), "
            f"one uvicorn worker; {os.cpu_count()} CPUs shared by wrk and the server"
        )
        runs: dict[str, list[dict[str, float]]] = {}
        servers = {
            label: start_server(certs.directory, caches) for label, caches in VARIANTS.items()
        }
        try:
            for _ in range(ROUNDS):
                for name, (script, _size) in scripts.items():
                    url = servers["replicas"][1]
                    runs.setdefault(f"{name} floor", []).append(measure(f"{url}/floor", script))
                    for label, (_process, url) in servers.items():
                        runs.setdefault(f"{name} inject, {label}", []).append(
                            measure(f"{url}/inject", script)
                        )
        finally:
            for process, _url in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        results = {key: best(value) for key, value in runs.items()}
        for name, (_, size) in scripts.items():
            print(f"{name} pod AdmissionReview ({size / 1024:.1f} KiB)")
            floor = results[f"{name} floor"]
            print(row("floor (read body, fixed)", floor, None))
            for label in VARIANTS:
                print(row(f"inject, {label}", results[f"{name} inject, {label}"], floor))
        targets = {"hello": 0.6, "large": 0.4}
        for name, target in targets.items():
            for label in VARIANTS:
                ratio = results[f"{name} inject, {label}"]["rps"] / results[f"{name} floor"]["rps"]
                verdict = "ok" if ratio >= target else "MISSED"
                print(f"target {name} ({label}): {ratio:.2f} >= {target} x floor: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
