"""``admission.review``: the pure AdmissionReview -> response step."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import jsonpatch
import pytest

from injector.config import load_config
from injector.core import Injected, InjectionParams, Injector
from injector.webhook import admission
from tests.webhook.conftest import apiserver_capture, hello_pod, load_review, review_of

INJECTOR = Injector(load_config())


def answer(body: Any, params: admission.PathParams | None = None) -> tuple[admission.Reply, Any]:
    reply = admission.review(body, INJECTOR, params)
    return reply, json.loads(reply.body)


def decoded_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return ops


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_echoes_version_kind_and_uid(api_version: str) -> None:
    reply, body = answer(review_of(hello_pod(), uid="abc-123", api_version=api_version))
    assert reply.status == 200
    assert body["apiVersion"] == api_version
    assert body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == "abc-123"
    assert body["response"]["allowed"] is True


def test_patch_decodes_to_the_core_ops_and_applies_to_the_injected_pod() -> None:
    pod = hello_pod()
    reply, body = answer(review_of(pod, namespace="shop"))
    expected = INJECTOR.inject(pod, InjectionParams(namespace="shop"))
    assert isinstance(expected, Injected)
    response = body["response"]
    assert response["patchType"] == "JSONPatch"
    ops = decoded_patch(response)
    assert ops == expected.patch
    assert jsonpatch.apply_patch(pod, ops) == expected.pod
    assert reply.disposition == "injected"
    assert reply.fields["patch_ops"] == len(ops)


def test_captured_apiserver_request() -> None:
    body = apiserver_capture()["body"]
    reply, answer_body = answer(body)
    response = answer_body["response"]
    assert response["uid"] == "67144c42-3e15-4fed-bf4a-d8416e908bb4"
    pod = body["request"]["object"]
    injected = jsonpatch.apply_patch(pod, decoded_patch(response))
    names = [c["name"] for c in injected["spec"]["initContainers"]]
    assert names == ["istio-init", "istio-proxy"]
    assert "sidecar.istio.io/status" in injected["metadata"]["annotations"]
    assert reply.fields["namespace"] == "inject-on" and reply.fields["pod"] == "demo-on"


def test_skip_is_allowed_without_patch_and_with_a_warning() -> None:
    pod = hello_pod()
    pod["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"
    reply, body = answer(review_of(pod))
    response = body["response"]
    assert response["allowed"] is True
    assert "patch" not in response and "patchType" not in response
    assert response["warnings"][0].startswith("sidecar not injected: ")
    assert all(len(w) <= admission.MAX_WARNING for w in response["warnings"])
    assert reply.disposition == "skipped"


def test_skip_in_an_ignored_namespace_uses_the_request_namespace() -> None:
    reply, _ = answer(review_of(hello_pod(), namespace="kube-system"))
    assert reply.disposition == "skipped"
    assert "kube-system" in reply.reason
    assert reply.fields["namespace"] == "kube-system"


def test_namespace_comes_from_the_request_when_the_pod_has_none() -> None:
    _, body = answer(review_of(hello_pod(), namespace="payments"))
    pod = jsonpatch.apply_patch(hello_pod(), decoded_patch(body["response"]))
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert "payments" in env.get("ISTIO_META_OWNER", "")


def test_deny_maps_the_injection_error_to_status() -> None:
    pod = hello_pod()
    pod["metadata"]["annotations"] = {"sidecar.istio.io/interceptionMode": "BOGUS"}
    reply, body = answer(review_of(pod))
    response = body["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "interceptionMode" in response["status"]["message"]
    assert "patch" not in response
    assert reply.disposition == "denied" and reply.status == 200


def test_unexpected_exception_is_a_generic_deny(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: Any) -> Any:
        raise KeyError("bug")

    injector = Injector(load_config())
    monkeypatch.setattr(injector, "inject", boom)
    reply = admission.review(review_of(hello_pod()), injector)
    response = json.loads(reply.body)["response"]
    assert response == {
        "uid": "uid-1",
        "allowed": False,
        "status": {"code": 500, "message": admission.INTERNAL_ERROR},
    }
    assert isinstance(reply.error, KeyError)


def test_dry_run_is_answered_like_any_other() -> None:
    _, wet = answer(review_of(hello_pod()))
    reply, dry = answer(review_of(hello_pod(), dry_run=True))
    assert dry == wet
    assert reply.fields["dry_run"] is True


def test_long_warnings_are_shortened() -> None:
    assert len(admission.allow([], ("x" * 500,))["warnings"][0]) == admission.MAX_WARNING


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "expected a JSON object"),
        ({"kind": "Pod", "apiVersion": "v1"}, "kind is 'Pod'"),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2"}, "apiVersion"),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}, "no request"),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"object": {}},
            },
            "no uid",
        ),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"uid": "u"},
            },
            "no object",
        ),
    ],
)
def test_not_an_admission_review_is_a_400(body: Any, message: str) -> None:
    reply, answer_body = answer(body)
    assert reply.status == 400 and reply.disposition == "invalid"
    assert message in answer_body["error"]


def test_an_object_that_is_not_a_pod_is_denied() -> None:
    reply, body = answer(review_of({"metadata": {"name": "x"}, "data": {}}))
    assert body["response"]["allowed"] is False
    assert "spec" in body["response"]["status"]["message"]


@pytest.mark.parametrize(
    "path, env, warnings",
    [
        ("/inject", {}, 0),
        ("/inject/", {}, 0),
        (
            "/inject/cluster/c1/net/n1",
            {"ISTIO_META_CLUSTER_ID": "c1", "ISTIO_META_NETWORK": "n1"},
            0,
        ),
        ("/inject/custom_env/a--slash--b/", {"CUSTOM_ENV": "a/b"}, 0),
        ("/inject/cluster/c1/net", {"ISTIO_META_CLUSTER_ID": "c1"}, 1),
        ("/inject/cluster//net/n2", {"ISTIO_META_NETWORK": "n2"}, 0),
        (
            "/inject/:ENV:cluster=c2:ENV:rootpage=/foo:ENV:=bad:ENV:novalue",
            {"ISTIO_META_CLUSTER_ID": "c2", "ROOTPAGE": "/foo"},
            0,
        ),
    ],
)
def test_parse_path(path: str, env: dict[str, str], warnings: int) -> None:
    params = admission.parse_path(path)
    assert dict(params.env) == env
    assert len(params.warnings) == warnings


def test_path_params_become_env_on_istio_proxy() -> None:
    params = admission.parse_path("/inject/cluster/east/net/net1/custom_env/v")
    _, body = answer(review_of(hello_pod()), params)
    pod = jsonpatch.apply_patch(hello_pod(), decoded_patch(body["response"]))
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert env["ISTIO_META_CLUSTER_ID"] == "east"
    assert env["ISTIO_META_NETWORK"] == "net1"
    assert env["CUSTOM_ENV"] == "v"
    assert pod["metadata"]["labels"]["topology.istio.io/network"] == "net1"


def test_request_with_serviceaccount_volume_and_large_pod() -> None:
    for name in ("apiserver-admissionreview-with-sa.json", "large-pod-review.json"):
        body = load_review(name)
        body = body.get("body", body)
        pod = copy.deepcopy(body["request"]["object"])
        reply, answer_body = answer(body)
        assert reply.disposition == "injected", reply.reason
        injected = jsonpatch.apply_patch(pod, decoded_patch(answer_body["response"]))
        assert any(c["name"] == "istio-proxy" for c in injected["spec"]["initContainers"])
