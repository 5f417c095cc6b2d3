"""The admission memo: replicas share an answer; anything that could change it misses."""

from __future__ import annotations

import base64
import copy
from typing import Any

import orjson
import pytest

from injector.config import default_config, load_config
from injector.core import InjectionParams, Injector, Outcome
from injector.webhook import admission
from injector.webhook.memo import ResponseMemo
from tests.injector.helpers import replica_pod


def replica_review(uid: str, stamp: str, **changes: Any) -> dict[str, Any]:
    pod = replica_pod(stamp=stamp)
    for key, value in changes.pop("metadata", {}).items():
        pod["metadata"][key] = value
    request = {
        "uid": uid,
        "namespace": changes.pop("namespace", "shop"),
        "operation": "CREATE",
        "object": pod,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def answer(reply: admission.Reply) -> dict[str, Any]:
    response: dict[str, Any] = orjson.loads(reply.body)["response"]
    return response


def test_replicas_share_one_answer_with_their_own_uid() -> None:
    memo, injector = ResponseMemo(), Injector(default_config())
    first = admission.review(replica_review("u1", "2026-11-21T12:00:00Z"), injector, None, memo)
    second = admission.review(replica_review("u2", "2026-11-21T12:00:01Z"), injector, None, memo)
    assert (memo.misses, memo.hits) == (1, 1)
    one, two = answer(first), answer(second)
    assert (one["uid"], two["uid"]) == ("u1", "u2")
    assert one["patch"] == two["patch"] and one["allowed"] and two["allowed"]
    assert (
        second.disposition == "injected" and second.fields["patch_ops"] == first.fields["patch_ops"]
    )
    # the memoised patch is what the core computes for the second pod itself
    pod = replica_review("u2", "2026-11-21T12:00:01Z")["request"]["object"]
    direct = injector.inject(copy.deepcopy(pod), InjectionParams(namespace="shop"))
    assert orjson.loads(base64.b64decode(two["patch"])) == direct.patch  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "change",
    [
        {"metadata": {"labels": {"app": "web", "pod-template-hash": "other"}}},
        {"metadata": {"annotations": {"sidecar.istio.io/logLevel": "debug"}}},
        {"namespace": "payments"},
    ],
)
def test_any_input_difference_misses(change: dict[str, Any]) -> None:
    memo, injector = ResponseMemo(), Injector(default_config())
    admission.review(replica_review("u1", "t1"), injector, None, memo)
    admission.review(replica_review("u2", "t1", **change), injector, None, memo)
    assert (memo.hits, memo.misses) == (0, 2)


def test_url_env_and_config_are_part_of_the_key() -> None:
    memo = ResponseMemo()
    injector = Injector(default_config())
    admission.review(replica_review("u1", "t"), injector, None, memo)
    admission.review(
        replica_review("u2", "t"), injector, admission.parse_path("/inject/net/n1"), memo
    )
    other = Injector(load_config(None, "global: {tag: '1.29.0'}\n", None))
    reply = admission.review(replica_review("u3", "t"), other, None, memo)
    assert (memo.hits, memo.misses) == (0, 3)
    assert b"proxyv2:1.29.0" in base64.b64decode(answer(reply)["patch"])


def test_denials_are_memoised_unexpected_errors_are_not() -> None:
    memo, injector = ResponseMemo(), Injector(default_config())
    bad = {"metadata": {"annotations": {"sidecar.istio.io/interceptionMode": "MAGIC"}}}
    for uid in ("u1", "u2"):
        reply = admission.review(
            replica_review(uid, "t", **copy.deepcopy(bad)), injector, None, memo
        )
        assert answer(reply)["allowed"] is False and answer(reply)["uid"] == uid
    assert (memo.misses, memo.hits) == (1, 1)

    class Broken(Injector):
        def inject(self, pod: Any, params: InjectionParams | None = None) -> Outcome:
            raise RuntimeError("bug")

    broken = Broken(default_config())
    for uid in ("u3", "u4"):
        reply = admission.review(replica_review(uid, "t"), broken, None, memo)
        assert answer(reply)["status"]["code"] == 500 and reply.error is not None
    assert memo.hits == 1  # the second broken answer was computed again, not replayed


def test_memo_is_bounded() -> None:
    memo, injector = ResponseMemo(size=2), Injector(default_config())
    for n in range(3):
        labels = {"app": f"web{n}", "pod-template-hash": "5d8f7c9b4"}
        admission.review(
            replica_review(f"u{n}", "t", metadata={"labels": labels}), injector, None, memo
        )
    admission.review(
        replica_review(
            "again", "t", metadata={"labels": {"app": "web0", "pod-template-hash": "5d8f7c9b4"}}
        ),
        injector,
        None,
        memo,
    )
    assert memo.hits == 0 and memo.misses == 4  # web0 had been evicted
