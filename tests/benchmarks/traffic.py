"""AdmissionReview bodies shaped like what kube-apiserver sends for the pods of a ReplicaSet.

Observed on a real server (v1.35): a controller-created pod arrives with an empty ``name``,
a ``generateName``, the ``pod-template-hash`` label and a controlling ``ReplicaSet`` owner;
the ServiceAccount admission plugin has already added a projected volume
``kube-api-access-<5 random chars>`` and its mount in every app container; ``request.uid``
and the ``managedFields`` timestamp differ per request. So no two replicas are identical.

- ``replicas(base, n)``: n pods of one ReplicaSet (only the per-pod fields above differ);
- ``distinct(base, n)``: n pods of n different workloads (app label, names, hash, image).

``base`` is a captured AdmissionReview; the pod keeps everything else it carries.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Iterator
from typing import Any

SA_VOLUME_PREFIX = "kube-api-access-"
_SUFFIX = string.ascii_lowercase + string.digits


def _token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_SUFFIX) for _ in range(length))


def _uid(rng: random.Random) -> str:
    hexdigits = f"{rng.getrandbits(128):032x}"
    return "-".join(
        (hexdigits[:8], hexdigits[8:12], hexdigits[12:16], hexdigits[16:20], hexdigits[20:])
    )


def as_replicaset_pod(review: dict[str, Any], app: str, template_hash: str) -> dict[str, Any]:
    """``review`` with its pod turned into a pod of ReplicaSet ``<app>-<hash>``."""
    review = copy.deepcopy(review)
    request = review["request"]
    pod = request["object"]
    metadata = pod["metadata"]
    replicaset = f"{app}-{template_hash}"
    metadata.pop("name", None)
    metadata["generateName"] = f"{replicaset}-"
    labels = metadata.setdefault("labels", {})
    labels["app"] = app
    labels["pod-template-hash"] = template_hash
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": replicaset,
            "uid": _uid(random.Random(replicaset)),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    request["name"] = ""
    for field in metadata.get("managedFields") or []:
        field["manager"] = "kube-controller-manager"
    return review


def with_request_identity(review: dict[str, Any], rng: random.Random, second: int) -> None:
    """Give ``review`` (in place) what the server makes unique per request: the request uid,
    the ServiceAccount token volume name, and the managedFields timestamp."""
    request = review["request"]
    request["uid"] = _uid(rng)
    pod = request["object"]
    volume = SA_VOLUME_PREFIX + _token(rng, 5)
    spec = pod["spec"]
    for item in spec.get("volumes") or []:
        if item["name"].startswith(SA_VOLUME_PREFIX):
            item["name"] = volume
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for mount in container.get("volumeMounts") or []:
            if mount["name"].startswith(SA_VOLUME_PREFIX):
                mount["name"] = volume
    for field in pod["metadata"].get("managedFields") or []:
        field["time"] = f"2026-12-07T06:{second // 60 % 60:02d}:{second % 60:02d}Z"


def replicas(base: dict[str, Any], count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """``count`` requests for the pods of one ReplicaSet."""
    rng = random.Random(seed)
    shaped = as_replicaset_pod(base, "web", "7d4b9c8f6")
    for n in range(count):
        review = copy.deepcopy(shaped)
        with_request_identity(review, rng, n)
        yield review


def distinct(
    base: dict[str, Any], count: int, seed: int = 2, suffix: str = ""
) -> Iterator[dict[str, Any]]:
    """``count`` requests, each for the first pod of a different workload (``app-<n><suffix>``)."""
    rng = random.Random(seed)
    for n in range(count):
        app = f"app-{n:05d}{suffix}"
        review = as_replicaset_pod(base, app, _token(rng, 9))
        for container in review["request"]["object"]["spec"]["containers"]:
            container["image"] = f"registry.example.com/{app}/{container['name']}:1.{n}"
        with_request_identity(review, rng, n)
        yield review
