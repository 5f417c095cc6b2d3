"""An exact memo of admission answers, for the pods of one ReplicaSet.

A controller creating N replicas sends N AdmissionReviews that differ only in ``uid`` and in
the timestamps of ``managedFields`` (pods have no name yet). Injection is a pure function of
everything else (the pod, the request namespace, the URL's env overrides, the config), so
the answer for the first replica is the answer for all of them. The memo keys on exactly
those inputs, serialised, and stores the answer without its ``uid``; ``managedFields`` may
be left out of the key because injection neither reads nor patches it.

Bounded (LRU). Answers to unexpected errors are never stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from injector.core import without_managed_fields


@dataclass(frozen=True)
class Answer:
    """An admission answer without its uid."""

    response: dict[str, Any]  # AdmissionResponse fields other than "uid"
    disposition: Literal["injected", "skipped", "denied"]
    reason: str
    patch_ops: int


class ResponseMemo:
    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[bytes, Answer] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def key(
        self, content_hash: str, namespace: Any, env: Mapping[str, str], pod: Any
    ) -> bytes | None:
        if self.size <= 0 or not isinstance(pod, dict):
            return None
        metadata = pod.get("metadata")
        if isinstance(metadata, dict) and "managedFields" in metadata:
            pod = {**pod, "metadata": without_managed_fields(metadata)}
        try:
            return orjson.dumps([content_hash, namespace, sorted(env.items()), pod])
        except TypeError:  # not plain JSON (cannot come from a decoded body, but be safe)
            return None

    def get(self, key: bytes | None) -> Answer | None:
        if key is None:
            return None
        answer = self._items.get(key)
        if answer is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return answer

    def put(self, key: bytes | None, answer: Answer) -> None:
        if key is None:
            return
        self._items[key] = answer
        if len(self._items) > self.size:
            self._items.popitem(last=False)
