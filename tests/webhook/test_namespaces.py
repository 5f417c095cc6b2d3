"""The Namespace cache (``injector.webhook.namespaces``) and its use on the admission path.

The cache's source is a scripted fake here: the real API server is used in
``tests/cluster/test_openshift.py``, but it cannot be made to expire a watch (410 Gone) on
demand, nor to send a chosen sequence of events.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from injector.config import load_config
from injector.core import Injector
from injector.namespaces import KEYS, MAX_VALUE, NamespaceWatchError, kept
from injector.webhook import admission
from injector.webhook.namespaces import Event, NamespaceCache
from tests.webhook.conftest import hello_pod, review_of

UID, GROUPS = KEYS
RANGE = {UID: "1000620000/10000"}


class Script:
    """A ``Source`` that answers lists and watches from a script, then blocks until closed."""

    def __init__(self, lists: list[tuple[dict[str, dict[str, str]], str]], watches: list[Any]):
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.closed = threading.Event()

    def list(self) -> tuple[dict[str, dict[str, str]], str]:
        if not self.lists:
            self.closed.wait()
            raise NamespaceWatchError("closed")
        return self.lists.pop(0)

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Event]:
        self.watched_from.append(resource_version)
        step = self.watches.pop(0) if self.watches else None
        if isinstance(step, Exception):
            raise step
        yield from step or []
        if not self.watches:
            self.closed.wait()  # an idle watch, until stop() cuts it off

    def close_watches(self) -> None:
        self.closed.set()


def event(kind: str, name: str, version: str, annotations: dict[str, str] | None = None) -> Event:
    return Event(kind, name, kept(annotations), version)


def run_until(cache: NamespaceCache, done: Any, timeout: float = 5) -> None:
    cache.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert done(), "the cache did not get there"


def test_only_the_two_annotations_are_kept_and_values_are_cut() -> None:
    huge = "9" * 100_000
    annotations = {UID: huge, GROUPS: "5000/10", "other": "x" * 1000, "team": "a"}
    assert kept(annotations) == {UID: "9" * MAX_VALUE, GROUPS: "5000/10"}
    assert kept({"team": "a"}) == {}
    assert kept(None) == {}


def test_events_add_update_and_forget() -> None:
    cache = NamespaceCache(Script([], []))
    cache.apply(event("ADDED", "shop", "1", {**RANGE, "team": "a"}))
    cache.apply(event("ADDED", "plain", "2", {"team": "b"}))
    assert cache.annotations("shop") == RANGE
    assert cache.annotations("plain") is None and len(cache) == 1  # nothing stored for it
    cache.apply(event("MODIFIED", "shop", "3", {UID: "2000/10"}))
    assert cache.annotations("shop") == {UID: "2000/10"}
    cache.apply(Event("BOOKMARK", "", {}, "4"))
    assert cache.annotations("shop") == {UID: "2000/10"}
    cache.apply(event("MODIFIED", "shop", "5", {"team": "a"}))  # range annotation removed
    assert cache.annotations("shop") is None
    cache.apply(event("ADDED", "shop", "6", RANGE))
    cache.apply(event("DELETED", "shop", "7", RANGE))
    assert cache.annotations("shop") is None and len(cache) == 0


def test_a_thousand_plain_namespaces_cost_nothing() -> None:
    cache = NamespaceCache(Script([], []))
    for i in range(1000):
        cache.apply(event("ADDED", f"ns-{i}", str(i), {"team": "x" * 500}))
    cache.apply(event("ADDED", "openshift", "1001", RANGE))
    assert len(cache) == 1


def test_watch_resumes_from_the_last_version_and_relists_after_410() -> None:
    source = Script(
        lists=[
            ({"shop": RANGE, "old": RANGE}, "10"),
            ({"shop": {UID: "3000/10"}}, "40"),  # "old" was deleted while the watch was gone
        ],
        watches=[
            [event("MODIFIED", "shop", "11", {UID: "2000/10"}), Event("BOOKMARK", "", {}, "15")],
            [event("ADDED", "new", "16", RANGE)],
            NamespaceWatchError("watch namespaces: HTTP 410 Gone", gone=True),
            [event("ADDED", "later", "41", RANGE)],
        ],
    )
    cache = NamespaceCache(source, retry_seconds=0.01)
    try:
        run_until(cache, lambda: cache.annotations("later") is not None)
    finally:
        cache.stop()
    assert source.watched_from == ["10", "15", "16", "40"]
    assert cache.annotations("shop") == {UID: "3000/10"}
    assert cache.annotations("old") is None  # the re-list replaced the whole cache
    assert cache.annotations("new") is None
    assert cache.ready()[0]


def test_not_ready_until_listed_and_the_reason_is_kept() -> None:
    forbidden = NamespaceWatchError("forbidden: cannot `list` namespaces: grant it")
    source = Script(lists=[], watches=[])
    source.list = lambda: (_ for _ in ()).throw(forbidden)  # type: ignore[method-assign]
    cache = NamespaceCache(source, retry_seconds=0.01)
    assert cache.ready() == (False, "not listed yet: listing")
    try:
        run_until(cache, lambda: cache.last_error is not None)
        ok, why = cache.ready()
    finally:
        cache.stop()
    assert not ok and "forbidden: cannot `list` namespaces" in why


def test_stop_cuts_an_idle_watch_off_at_once() -> None:
    source = Script(lists=[({}, "1")], watches=[[]])
    cache = NamespaceCache(source, watch_timeout=300)
    run_until(cache, lambda: source.watched_from == ["1"])
    started = time.monotonic()
    cache.stop()
    assert time.monotonic() - started < 0.5


def _proxy_uid(reply: admission.Reply) -> int:
    response = json.loads(reply.body)["response"]
    ops = json.loads(base64.b64decode(response["patch"]))
    for op in ops:
        for container in op["value"] if isinstance(op.get("value"), list) else [op.get("value")]:
            if isinstance(container, dict) and container.get("name") == "istio-proxy":
                return int(container["securityContext"]["runAsUser"])
    raise AssertionError("no istio-proxy in the patch")


def test_admission_runs_the_proxy_as_the_namespace_uid() -> None:
    injector = Injector(load_config())
    ranges: dict[str, dict[str, str]] = {"shop": RANGE}
    body = review_of(hello_pod(), namespace="shop")
    assert _proxy_uid(admission.review(body, injector)) == 1337
    assert _proxy_uid(admission.review(body, injector, namespaces=ranges.get)) == 1000629999
    ranges["shop"] = {UID: "2000/10"}  # the namespace changed: the next pod follows
    assert _proxy_uid(admission.review(body, injector, namespaces=ranges.get)) == 2009
    other = review_of(hello_pod(), namespace="elsewhere")
    assert _proxy_uid(admission.review(other, injector, namespaces=ranges.get)) == 1337
