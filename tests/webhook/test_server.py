"""The webhook through a real uvicorn with TLS on an ephemeral port and a real TLS client."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import statistics
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from tests.pki import make_certs
from tests.webhook.conftest import (
    Running,
    apiserver_capture,
    client_context,
    hello_pod,
    review_of,
    running_server,
)

JSON_HEADERS = {"Content-Type": "application/json"}


def post(
    live: Running, body: bytes, headers: dict[str, str] | None = None, path: str = "/inject"
) -> httpx.Response:
    with live.client() as client:
        return client.post(path, content=body, headers=JSON_HEADERS if headers is None else headers)


def test_captured_apiserver_request_is_answered(live: Running) -> None:
    capture = apiserver_capture()
    headers = {k: v for k, v in capture["headers"].items() if k not in ("Host", "Content-Length")}
    body = json.dumps(capture["body"]).encode()
    response = post(live, body, headers, capture["path"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    review = response.json()
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    answer = review["response"]
    assert answer["uid"] == capture["body"]["request"]["uid"]
    assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"
    pod = jsonpatch.apply_patch(
        capture["body"]["request"]["object"], json.loads(base64.b64decode(answer["patch"]))
    )
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["istio-init", "istio-proxy"]


def test_gzip_accepting_client_gets_a_plain_json_answer(live: Running) -> None:
    body = json.dumps(review_of(hello_pod())).encode()
    response = post(
        live, body, {"Content-Type": "application/json; charset=utf-8", "Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200 and response.json()["response"]["allowed"] is True


@pytest.mark.parametrize(
    "body, headers, path, status, error",
    [
        (b'{"a": 1}', {"Content-Type": "text/plain"}, "/inject", 415, "Content-Type"),
        (b'{"a": 1}', {}, "/inject", 415, "Content-Type"),
        (b"", JSON_HEADERS, "/inject", 400, "no body"),
        (b"{not json", JSON_HEADERS, "/inject", 400, "not valid JSON"),
        (b'{"kind": "Pod"}', JSON_HEADERS, "/inject", 400, "not an AdmissionReview"),
        (b'"just a string"', JSON_HEADERS, "/inject", 400, "not an AdmissionReview"),
        (b"{}", JSON_HEADERS, "/mutate", 404, "Not Found"),
    ],
)
def test_http_errors_are_json(
    live: Running, body: bytes, headers: dict[str, str], path: str, status: int, error: str
) -> None:
    response = post(live, body, headers, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert error in response.json()["error"]
    assert "Traceback" not in response.text


def test_get_on_inject_is_405(live: Running) -> None:
    with live.client() as client:
        response = client.get("/inject")
    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}


def test_body_over_6_mib_is_413(live: Running) -> None:
    big = b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = post(live, big)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


def test_streamed_body_over_6_mib_is_413_while_reading(live: Running) -> None:
    def chunks() -> Any:
        for _ in range(7):
            yield b" " * (1024 * 1024)

    with live.client() as client:
        response = client.post("/inject", content=chunks(), headers=JSON_HEADERS)
    assert response.status_code == 413


def test_tls_1_1_client_is_refused_and_1_2_accepted(live: Running) -> None:
    assert live.served.source.ssl_context().minimum_version == ssl.TLSVersion.TLSv1_2
    context = client_context(live.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, httpx.ConnectError)):
        with httpx.Client(base_url=live.url, verify=context) as client:
            client.get("/healthz")
    tls12 = client_context(live.ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(base_url=live.url, verify=tls12) as client:
        assert client.get("/healthz").status_code == 200


def test_plain_http_is_refused(live: Running) -> None:
    with pytest.raises(httpx.HTTPError):
        with httpx.Client(base_url=live.url.replace("https", "http"), timeout=5) as client:
            client.get("/healthz")


def test_health_and_readiness(live: Running) -> None:
    with live.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["tls"]["ready"] is True
    assert body["config"]["generation"] == 1 and body["config"]["last_error"] is None


def test_metrics_count_a_known_mix(live: Running) -> None:
    names = ["requests", "success", "skip", "failure"]
    before = {n: live.metric(f"sidecar_injection_{n}_total") for n in names}
    seconds_before = live.metric("sidecar_injection_time_seconds_count")
    skipped = hello_pod()
    skipped["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    denied = hello_pod()
    denied["metadata"]["annotations"] = {"sidecar.istio.io/interceptionMode": "BOGUS"}
    bodies = [review_of(hello_pod())] * 3 + [review_of(skipped)] * 2 + [review_of(denied)]
    with live.client() as client:
        for body in bodies:
            assert client.post("/inject", json=body).status_code == 200
        assert client.post("/inject", content=b"nope", headers=JSON_HEADERS).status_code == 400
    after = {n: live.metric(f"sidecar_injection_{n}_total") for n in names}
    delta = {n: after[n] - before[n] for n in names}
    assert delta == {"requests": 7, "success": 6, "skip": 2, "failure": 2}
    assert live.metric("sidecar_injection_time_seconds_count") - seconds_before == 7
    with live.client() as client:
        text = client.get("/metrics").text
    assert 'sidecar_injection_time_seconds_bucket{le="0.005"}' in text
    assert 'sidecar_injection_time_seconds_bucket{le="25.0"}' in text
    assert 'sidecar_injector_config_reload_total{result="failure"} 0.0' in text


def test_metrics_show_the_serving_certificate_expiry(tmp_path: Path) -> None:
    # A certificate of its own (3 days; the shared one lasts 30): the gauge is process-wide,
    # so only this server publishing can make the value match.
    with running_server(make_certs(tmp_path, days=3)) as own:
        info = own.served.source.holder.info  # type: ignore[attr-defined]
        assert info is not None
        left = own.metric('sidecar_injector_cert_expiry_seconds{kind="leaf"}')
    expected = (info.not_after - datetime.now(UTC)).total_seconds()
    assert expected < 4 * 86400
    assert abs(left - expected) < 120  # published at start, refreshed at each file check


def test_accepted_sockets_have_tcp_nodelay(live: Running) -> None:
    with live.client() as client:
        client.get("/healthz")
        connections = list(live.served.server.server_state.connections)
        assert connections
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_back_to_back_keep_alive_admissions_do_not_stall(live: Running) -> None:
    body = json.dumps(review_of(hello_pod())).encode()
    timings = []
    with live.client() as client:
        client.post("/inject", content=body, headers=JSON_HEADERS)
        for _ in range(40):
            start = time.perf_counter()
            assert client.post("/inject", content=body, headers=JSON_HEADERS).status_code == 200
            timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.02, timings  # Nagle + delayed ACK would be ~40 ms


def served_by(url: str, ca: Path) -> bool:
    host, port = url.removeprefix("https://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            with client_context(ca).wrap_socket(sock, server_hostname=host):
                return True
    except ssl.SSLCertVerificationError:
        return False


def test_serving_certificate_is_hot_reloaded(tmp_path: Path) -> None:
    first = make_certs(tmp_path / "one")
    with running_server(first, "--reload-interval", "0.05", "--drain-seconds", "0") as live:
        assert served_by(live.url, first.ca)
        second = make_certs(tmp_path / "two")
        first.key.write_bytes(b"torn write")  # a bad pair is ignored: the old cert keeps serving
        time.sleep(0.2)
        assert served_by(live.url, first.ca)
        first.cert.write_bytes(second.cert.read_bytes())
        first.key.write_bytes(second.key.read_bytes())
        deadline = time.monotonic() + 5
        while not served_by(live.url, second.ca):
            assert time.monotonic() < deadline, "new certificate not served"
            time.sleep(0.05)
        with httpx.Client(base_url=live.url, verify=client_context(second.ca)) as client:
            assert client.get("/readyz").json()["tls"]["ready"] is True
