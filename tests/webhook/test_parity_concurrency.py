"""The webhook agrees with ``injector inject``; hundreds of parallel admissions stay correct."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import httpx
import jsonpatch
import pytest
import yaml

from injector.config import load_config
from injector.core import Injector
from injector.manifests import transform
from tests.webhook.conftest import (
    Running,
    apiserver_capture,
    client_context,
    hello_pod,
    load_review,
    review_of,
)


def bare_pod(pod: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """``pod`` as a standalone Pod manifest (what ``kubectl apply`` would send)."""
    pod = copy.deepcopy(pod)
    metadata = pod.setdefault("metadata", {})
    for key in ("generateName", "ownerReferences", "managedFields", "creationTimestamp"):
        metadata.pop(key, None)
    metadata.update(name=name, namespace=namespace)
    pod.pop("status", None)
    return {"apiVersion": "v1", "kind": "Pod", **pod}


PODS = {
    "apiserver": bare_pod(apiserver_capture()["body"]["request"]["object"], "demo-on", "inject-on"),
    "hello": bare_pod(hello_pod(), "hello", "default"),
    "large": bare_pod(load_review("large-pod-review.json")["request"]["object"], "orders", "shop"),
}


@pytest.mark.parametrize("name", sorted(PODS))
def test_webhook_patch_equals_injector_inject(live: Running, name: str) -> None:
    pod = PODS[name]
    with live.client() as client:
        response = client.post(
            "/inject", json=review_of(pod, namespace=pod["metadata"]["namespace"])
        )
    ops = json.loads(base64.b64decode(response.json()["response"]["patch"]))
    from_webhook = jsonpatch.apply_patch(pod, ops)
    result = transform(yaml.safe_dump(pod), Injector(load_config(), cache_bytes=0))
    from_cli = yaml.safe_load(result.text)
    assert from_webhook == from_cli


def expected_decisions() -> list[tuple[dict[str, Any], str]]:
    skipped = hello_pod()
    skipped["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    denied = hello_pod()
    denied["metadata"]["annotations"] = {"sidecar.istio.io/interceptionMode": "BOGUS"}
    cases: list[tuple[dict[str, Any], str]] = []
    for i in range(320):
        kind = ("injected", "injected", "skipped", "denied")[i % 4]
        pod = {"injected": hello_pod(), "skipped": skipped, "denied": denied}[kind]
        review = review_of(pod, uid=f"uid-{i}", namespace=f"ns-{i % 7}")
        cases.append((review, kind))
    return cases


def check(review: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    response = body["response"]
    assert response["uid"] == review["request"]["uid"]
    if kind == "denied":
        assert response["allowed"] is False
        return
    assert response["allowed"] is True
    if kind == "skipped":
        assert "patch" not in response
        return
    pod = jsonpatch.apply_patch(
        review["request"]["object"], json.loads(base64.b64decode(response["patch"]))
    )
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert f"/namespaces/{review['request']['namespace']}/" in env["ISTIO_META_OWNER"]


def test_hundreds_of_parallel_admissions(live: Running) -> None:
    cases = expected_decisions()

    async def main() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=12, max_keepalive_connections=12)
        async with httpx.AsyncClient(
            base_url=live.url, verify=client_context(live.ca), limits=limits, timeout=30
        ) as client:

            async def one(review: dict[str, Any]) -> dict[str, Any]:
                response = await client.post("/inject", json=review)
                assert response.status_code == 200
                body: dict[str, Any] = response.json()
                return body

            return await asyncio.gather(*(one(review) for review, _ in cases))

    bodies = asyncio.run(main())
    assert len(bodies) == len(cases)
    for (review, kind), body in zip(cases, bodies, strict=True):
        check(review, kind, body)
