"""A cache of rendered templates keyed on what the render actually read of the pod.

A template reads a small part of the pod: some annotations and labels, a field or two of the
spec. Everything else (the ServiceAccount token volume ``kube-api-access-xxxxx`` the API
server gives every pod, uids, managedFields, the app's env and probes) never reaches the
output, so a key made of the whole pod would miss on every replica of a ReplicaSet.

So the pod is handed to the template as read-only *views* (``View``) that record each read
as an operation on a path: the value at ``annotations["sidecar.istio.io/logLevel"]`` (or its
absence), whether a key is present, the keys of a mapping, the length of a list, or a whole
subtree when the template prints or serialises it. A render's reads form a ``Trace``. The
rendered partials are stored under the trace and the values it observed; a later pod hits
when, for a stored trace, it holds the same values at every recorded read. Because the
template is deterministic, equal observations drive it down the same branches to the same
reads, and so to the same output: the cached render is exactly what a fresh one gives.

Everything else the template sees (values computed from the pod by ``injector.context``,
config) is in the key whole, as the caller's ``base`` key.

Bounded: at most ``max_bytes`` of stored renders and their keys, and ``traces`` distinct
traces (LRU). Values are stored as JSON bytes and decoded on every hit, so callers always
get fresh objects they may keep.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson

Path = tuple[str | int, ...]
Read = tuple[str, Path, Any]  # (operation, path, argument)
# Observation codes: positional in the key, so a value can never pass for a marker.
_MISSING, _SCALAR, _MAPPING, _LIST = 0, 1, 2, 3


_SERIALS = itertools.count()


class Trace:
    """The ordered, de-duplicated reads of one render."""

    def __init__(self) -> None:
        self.reads: dict[Read, None] = {}
        self.serial = next(_SERIALS)  # never reused, unlike id()

    def note(self, operation: str, path: Path, argument: Any = None) -> None:
        self.reads.setdefault((operation, path, argument), None)

    def observe(self, root: Mapping[str, Any]) -> bytes | None:
        """What ``root`` holds at every read, as canonical JSON (``true`` is not ``1``);
        None when that is not plain JSON (such a pod is rendered, never cached)."""
        try:
            return orjson.dumps([_observe(root, read) for read in self.reads])
        except TypeError:
            return None


def _observe(root: Mapping[str, Any], read: Read) -> Any:
    operation, path, argument = read
    value: Any = root
    for step in path:
        value = _child(value, step)
        if value is _ABSENT:
            return [_MISSING]
    if operation == "item":
        return _shape(value)
    if operation == "has":
        return isinstance(value, Mapping) and argument in value
    if operation == "keys":
        return list(value) if isinstance(value, Mapping) else None
    if operation == "len":
        return len(value) if isinstance(value, list) else None
    return [_SCALAR, value]  # "whole"


class _Absent:
    pass


_ABSENT = _Absent()


def _child(value: Any, step: str | int) -> Any:
    if isinstance(value, Mapping):
        return value.get(step, _ABSENT)
    if isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
        return value[step]
    return _ABSENT


def _shape(value: Any) -> Any:
    if isinstance(value, Mapping):
        return [_MAPPING]
    if isinstance(value, list):
        return [_LIST]
    return [_SCALAR, value]


def view(value: Any, path: Path, trace: Trace) -> Any:
    """``value`` as the template should see it: mappings and lists as recording views."""
    if isinstance(value, dict):
        return MappingView(value, path, trace)
    if isinstance(value, list):
        return ListView(value, path, trace)
    return value


class View:
    """Common to both views: reading the whole subtree (printing, JSON, comparing)."""

    __slots__ = ("_data", "_path", "_trace")

    def __init__(self, data: Any, path: Path, trace: Trace) -> None:
        self._data = data
        self._path = path
        self._trace = trace

    def _whole(self) -> Any:
        self._trace.note("whole", self._path)
        return self._data

    def __str__(self) -> str:
        return str(self._whole())

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return bool(self._whole() == (other._whole() if isinstance(other, View) else other))

    __hash__ = None  # type: ignore[assignment]


class MappingView(View, Mapping[str, Any]):
    """A read-only dict that records which keys are read."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        path = (*self._path, key)
        self._trace.note("item", path)
        return view(self._data[key], path, self._trace)

    def get(self, key: str, default: Any = None) -> Any:
        path = (*self._path, key)
        self._trace.note("item", path)
        if key in self._data:
            return view(self._data[key], path, self._trace)
        return default

    def __contains__(self, key: object) -> bool:
        try:
            self._trace.note("has", self._path, key)
        except TypeError:  # unhashable: the answer is False, but read it all anyway
            self._whole()
        return key in self._data

    def copy(self) -> dict[str, Any]:
        return dict(self._whole())

    def __iter__(self) -> Iterator[str]:
        self._trace.note("keys", self._path)
        return iter(list(self._data))

    def __len__(self) -> int:
        self._trace.note("keys", self._path)
        return len(self._data)


class ListView(View, Sequence[Any]):
    """A read-only list that records its length and the items read."""

    __slots__ = ()

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int):  # a slice: the template sees a plain copy
            return self._whole()[index]
        path = (*self._path, index)
        self._trace.note("item", path)
        return view(self._data[index], path, self._trace)

    def __len__(self) -> int:
        self._trace.note("len", self._path)
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self[index]

    def __contains__(self, value: object) -> bool:
        return value in self._whole()


def plain(value: Any) -> Any:
    """A view's data (a read of the whole), for serialisers' ``default`` hooks."""
    if isinstance(value, View):
        return value._whole()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class RenderCache:
    """Renders keyed on ``base`` (what the caller knows the render depends on) plus the
    values the pod held at the reads of an earlier render (see the module docstring).

    Bounded by bytes, not entries: a stored render costs its key (``base`` and the
    observations, which hold whatever the template read whole) plus its output, plus
    ``ENTRY_OVERHEAD``. A render bigger than an eighth of the budget is never stored, so
    one huge pod cannot flush the cache; the least recently used go first.
    """

    ENTRY_OVERHEAD = 256  # dict slot, tuple and bytes headers, roughly

    def __init__(self, max_bytes: int = 32 * 2**20, traces: int = 16) -> None:
        self.max_bytes = max_bytes
        self.max_traces = traces
        self.bytes = 0
        self._traces: OrderedDict[Trace, None] = OrderedDict()
        self._items: OrderedDict[tuple[bytes, int, bytes], bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def entries(self) -> int:
        """How many renders are stored."""
        return len(self._items)

    def get_or_render(
        self, base: bytes, pod: Mapping[str, Any], produce: Callable[[Trace], Any]
    ) -> Any:
        """Partials for ``pod`` (a mapping of template variable names to pod data):
        cached, or ``produce(trace)``, which must give the template only views of ``pod``
        made with ``view(..., trace)``."""
        if self.max_bytes <= 0:
            self.misses += 1
            return produce(Trace())
        for trace in reversed(self._traces):
            observed = trace.observe(pod)
            key = (base, trace.serial, observed or b"")  # b"" is never an observation
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
                self._traces.move_to_end(trace)
                self.hits += 1
                return orjson.loads(cached)
        self.misses += 1
        trace = Trace()
        value = produce(trace)
        trace = self._remember(trace)
        observed = trace.observe(pod)
        if observed is None:
            return value
        stored = orjson.dumps(value)
        self._store((base, trace.serial, observed), stored)
        return orjson.loads(stored)

    def _store(self, key: tuple[bytes, int, bytes], stored: bytes) -> None:
        size = _cost(key, stored)
        if size > self.max_bytes // 8:
            return
        self._items[key] = stored
        self.bytes += size
        while self.bytes > self.max_bytes:
            evicted, value = self._items.popitem(last=False)
            self.bytes -= _cost(evicted, value)

    def _remember(self, trace: Trace) -> Trace:
        """The trace to key on: ``trace``, or a known one with the same reads."""
        for known in self._traces:
            if known.reads.keys() == trace.reads.keys():
                return known
        self._traces[trace] = None
        if len(self._traces) > self.max_traces:
            evicted, _ = self._traces.popitem(last=False)
            for key in [key for key in self._items if key[1] == evicted.serial]:
                self.bytes -= _cost(key, self._items.pop(key))
        return trace


def _cost(key: tuple[bytes, int, bytes], stored: bytes) -> int:
    return len(key[0]) + len(key[2]) + len(stored) + RenderCache.ENTRY_OVERHEAD
