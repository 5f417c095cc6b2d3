"""Benchmark: the real webhook over TLS on loopback, driven by ``wrk`` (keep-alive), on bodies
shaped like what kube-apiserver sends (see ``traffic.py``).

One server (``serve_with_floor.py``: ``injector serve`` as deployed, plus ``POST /floor``)
and two pods: ``hello`` (the captured kubectl pod with its ServiceAccount volume, ~2.8 KiB)
and ``large`` (3 containers x 40 env vars, probes, managedFields; ~25 KiB). For each pod:

- floor: ``POST /floor`` on the same stack: reads the body, answers a fixed review;
- ceiling (reference): realistic replicas sent to the webhook app with the injection
  answered from a table (``serve_with_floor.Precomputed``): the most any cache inside the
  core could reach, since decoding, validating and answering the review are all it leaves;
- realistic replicas: 2,000 pods of one ReplicaSet, cycled (each its own request uid,
  ``kube-api-access-xxxxx`` volume name and managedFields time): what a scale-up sends;
- distinct pods: every request the first pod of a new workload (the script numbers the app
  of each request), so every request misses the render cache and renders;
- identical body (reference only): one body repeated, which no real server sends; with no
  memo of answers it costs what realistic replicas cost.

Each row is the median of ``BENCH_ROUNDS`` (3) interleaved runs of ``BENCH_SECONDS`` (4)
after a 1 s warm-up; the ratio is to the floor of the same round (median of those ratios).
Targets: realistic replicas >= 0.6 x floor (hello), >= 0.4 x floor (large).
Env also: ``BENCH_CONNECTIONS`` (8). Not a test: wrk and the server share the machine.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks import traffic  # noqa: E402
from tests.pki import make_certs  # noqa: E402
from tests.webhook.conftest import free_port  # noqa: E402

TESTDATA = ROOT / "tests" / "testdata" / "webhook"
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
COUNT = 2000
UNIQUE = "@@N@@"  # the script puts its request number there: every request a new workload
TARGETS = {"hello": 0.6, "large": 0.4}
ROWS = ("realistic replicas", "distinct pods", "identical body (reference)")
CEILING = "ceiling (answer precomputed)"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local UNIQUE = "%(unique)s"
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i, sent, run = 0, 0, tostring(os.time())  -- runs start >= 1 s apart: never the same
request = function()
  i = i %% #bodies + 1
  sent = sent + 1
  local body = bodies[i]
  if body:find(UNIQUE, 1, true) then body = body:gsub(UNIQUE, run .. "-" .. sent) end
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), errors))
end
"""
Result = dict[str, float]


def load_review(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((TESTDATA / name).read_text())
    body: dict[str, Any] = document.get("body", document)  # the capture is wrapped with notes
    return body


def write_script(work: Path, name: str, reviews: Iterable[dict[str, Any]]) -> Path:
    bodies = work / f"{name}.bodies"
    with bodies.open("w") as out:
        for review in reviews:
            out.write(json.dumps(review, separators=(",", ":")) + "\n")
    script = work / f"{name}.lua"
    script.write_text(LUA % {"bodies": bodies, "unique": UNIQUE})
    return script


def first_body(script: Path) -> bytes:
    bodies = script.with_suffix(".bodies")
    with bodies.open("rb") as lines:
        return lines.readline().rstrip(b"\n").replace(UNIQUE.encode(), b"0")


def start_server(certs_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        *(sys.executable, str(ROOT / "tests" / "benchmarks" / "serve_with_floor.py")),
        *("--host", "127.0.0.1", "--port", str(port), "--drain-seconds", "0"),
        *("--tls-cert-file", str(certs_dir / "tls.crt"), "--tls-key-file"),
        str(certs_dir / "tls.key"),
    ]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def check_injects(port: int, body: bytes, path: str = "/inject") -> None:
    """The bodies must really be injected (a deny is also HTTP 200 to wrk)."""
    context = ssl._create_unverified_context()  # loopback, our own throwaway cert
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    answer = json.loads(connection.getresponse().read())
    connection.close()
    if answer["response"].get("patchType") != "JSONPatch":
        raise SystemExit(f"benchmark body was not injected: {answer['response']}")


def wrk(url: str, script: Path, seconds: int) -> Result:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    output = subprocess.run(
        [*command, "-s", str(script), url], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    requests, duration_us, p50, p99, errors = (int(g) for g in match.groups())
    if errors:
        raise SystemExit(f"wrk saw {errors} errors (non-2xx or socket errors) on {url}")
    return {"rps": requests / (duration_us / 1e6), "p50": p50 / 1000, "p99": p99 / 1000}


def measure(url: str, script: Path) -> Result:
    wrk(url, script, 1)  # warm-up: connections, caches, allocator
    return wrk(url, script, SECONDS)


def median(runs: list[Result], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def line(label: str, runs: list[Result], ratios: list[float] | None) -> str:
    figures = (
        f"{median(runs, 'rps'):>8.0f} req/s   p50 {median(runs, 'p50'):6.2f} ms   "
        f"p99 {median(runs, 'p99'):6.2f} ms"
    )
    ratio = f"   {statistics.median(ratios):.2f} x floor" if ratios else ""
    return f"  {label:<28} {figures}{ratio}"


def main() -> int:
    bases = {
        "hello": load_review("apiserver-admissionreview-with-sa.json"),
        "large": load_review("large-pod-review.json"),
    }
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        work = Path(tmp)
        certs = make_certs(work / "certs")
        scripts: dict[tuple[str, str], Path] = {}
        for name, base in bases.items():
            replicas = list(traffic.replicas(base, COUNT))
            scripts[name, ROWS[0]] = write_script(work, f"{name}-replicas", replicas)
            scripts[name, ROWS[1]] = write_script(
                work, f"{name}-distinct", traffic.distinct(base, COUNT, suffix=f"-{UNIQUE}")
            )
            scripts[name, ROWS[2]] = write_script(work, f"{name}-identical", replicas[:1])
        print(
            f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s, median of {ROUNDS}, keep-alive, TLS "
            f"(EC P-256), one uvicorn worker; {os.cpu_count()} CPUs shared by wrk and the server"
        )
        process, port = start_server(certs.directory)
        url = f"https://127.0.0.1:{port}"
        runs: dict[tuple[str, str], list[Result]] = {}
        try:
            for script in scripts.values():
                check_injects(port, first_body(script))
                check_injects(port, first_body(script), "/ceiling")
            for _ in range(ROUNDS):
                for name in bases:
                    floor_script = scripts[name, ROWS[0]]
                    runs.setdefault((name, "floor"), []).append(
                        measure(f"{url}/floor", floor_script)
                    )
                    runs.setdefault((name, CEILING), []).append(
                        measure(f"{url}/ceiling", floor_script)
                    )
                    for row in ROWS:
                        runs.setdefault((name, row), []).append(
                            measure(f"{url}/inject", scripts[name, row])
                        )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        verdicts = []
        for name in bases:
            size = len(first_body(scripts[name, ROWS[0]]))
            print(f"{name} pod AdmissionReview ({size / 1024:.1f} KiB)")
            floor = runs[name, "floor"]
            print(line("floor (read body, fixed)", floor, None))
            for row in (CEILING, *ROWS):
                ratios = [r["rps"] / f["rps"] for r, f in zip(runs[name, row], floor, strict=True)]
                print(line(row, runs[name, row], ratios))
                if row == ROWS[0]:
                    ratio, target = statistics.median(ratios), TARGETS[name]
                    verdict = "ok" if ratio >= target else "MISSED"
                    verdicts.append(
                        f"target {name} realistic replicas: {ratio:.2f} >= {target}"
                        f" x floor: {verdict}"
                    )
        print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
