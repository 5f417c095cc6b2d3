"""The webhook's view of namespace annotations, kept current by a watch of Namespaces.

The admission path reads the annotations of ``injector.namespaces.KEYS`` from memory here,
without an API call. ``NamespaceCache`` lists Namespaces once (in pages), then watches from the
list's ``resourceVersion`` with bookmarks; a watch that ends is resumed from the last version
seen, and one that expired (410 Gone) or failed is answered with a fresh list after a short
wait. Memory stays bounded: only namespaces that carry one of the keys are stored, and only
those annotations, each value cut (``injector.namespaces.kept``). ``stop`` cuts the open watch
off at once (its socket is shut down), so shutdown never waits for the watch timeout.

``NamespaceApi`` is the only code here that talks to the API server; the cache takes any
object with ``Source``'s three methods, so its logic is tested without a cluster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from certs.kube import WatchStreams
from injector.namespaces import NamespaceWatchError, kept

logger = logging.getLogger(__name__)

PAGE = 500


@dataclass(frozen=True)
class Event:
    """One watch event, reduced to what the cache keeps (``name`` empty for bookmarks)."""

    type: str
    name: str
    annotations: Mapping[str, str]
    resource_version: str


class Source(Protocol):
    def list(self) -> tuple[dict[str, dict[str, str]], str]:
        """Every namespace's kept annotations (see ``kept``), and the list's version."""
        ...

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Event]: ...

    def close_watches(self) -> None: ...


class NamespaceCache:
    """Kept annotations by namespace name, from a list + watch in a background thread."""

    def __init__(
        self, source: Source, *, watch_timeout: int = 300, retry_seconds: float = 1.0
    ) -> None:
        self._source = source
        self._watch_timeout = watch_timeout
        self._retry = retry_seconds
        self._entries: dict[str, dict[str, str]] = {}
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def annotations(self, namespace: str) -> Mapping[str, str] | None:
        """The namespace's kept annotations (``None``: none, or not seen)."""
        return self._entries.get(namespace)

    def __len__(self) -> int:
        return len(self._entries)

    def ready(self) -> tuple[bool, str]:
        if self._synced.is_set():
            return True, f"synced; {len(self._entries)} namespaces with UID ranges"
        return False, f"not listed yet: {self.last_error or 'listing'}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="namespace-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._source.close_watches()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("namespace watch still running at shutdown")

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def apply(self, event: Event) -> None:
        """Update from one event: ADDED/MODIFIED store or forget, DELETED forgets."""
        if not event.name:  # BOOKMARK: only the version moves
            return
        if event.type == "DELETED" or not event.annotations:
            self._entries.pop(event.name, None)
        elif event.type in ("ADDED", "MODIFIED"):
            self._entries[event.name] = dict(event.annotations)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    entries, version = self._source.list()
                    self._entries = entries  # one reference swap: readers never see a mix
                    self._synced.set()
                    self.last_error = None
                for event in self._source.watch(version, self._watch_timeout):
                    version = event.resource_version or version
                    self.apply(event)
                    if self._stop.is_set():
                        return
            except NamespaceWatchError as exc:
                if self._stop.is_set():
                    return
                version = None
                self.last_error = str(exc)
                log = logger.info if exc.gone else logger.warning
                log("namespace watch: %s; listing again", exc)
                self._stop.wait(0 if exc.gone else self._retry)
            except Exception as exc:  # keep the cache alive whatever the client does
                if self._stop.is_set():
                    return
                version = None
                self.last_error = f"unexpected error: {exc!r}"
                logger.exception("namespace watch failed; listing again")
                self._stop.wait(self._retry)


class NamespaceApi:
    """List and watch Namespaces with the ``kubernetes`` client (``Source``)."""

    def __init__(
        self, api_client: Any, *, request_timeout: float = 10.0, page_size: int = PAGE
    ) -> None:
        from kubernetes import client

        self._core: Any = client.CoreV1Api(api_client)
        self._timeout = request_timeout
        self._page_size = page_size
        self._streams = WatchStreams()

    def list(self) -> tuple[dict[str, dict[str, str]], str]:
        entries: dict[str, dict[str, str]] = {}
        token: str | None = None
        with _translate("list"):
            while True:
                page = self._core.list_namespace(
                    limit=self._page_size, _continue=token, _request_timeout=self._timeout
                )
                for namespace in page.items or []:
                    annotations = kept(namespace.metadata.annotations)
                    if annotations:
                        entries[str(namespace.metadata.name)] = annotations
                token = page.metadata._continue
                if not token:
                    return entries, str(page.metadata.resource_version)

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Event]:
        from kubernetes import watch as _watch

        watch: Any = _watch  # the client's helpers are untyped
        stream = watch.Watch().stream(
            self._streams.tracked(self._core.list_namespace),
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _request_timeout=timeout_seconds + self._timeout,
        )
        with _translate("watch"):
            for event in stream:
                metadata = (event.get("raw_object") or {}).get("metadata") or {}
                name = "" if event.get("type") == "BOOKMARK" else str(metadata.get("name") or "")
                yield Event(
                    type=str(event.get("type")),
                    name=name,
                    annotations=kept(metadata.get("annotations")),
                    resource_version=str(metadata.get("resourceVersion") or ""),
                )

    def close_watches(self) -> None:
        """End the open watch now, and any started later at once (for shutdown)."""
        self._streams.close()


@contextmanager
def _translate(verb: str) -> Iterator[None]:
    """Client errors as ``NamespaceWatchError`` (403 names the missing permission)."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        if status == 403:
            message = (
                f"forbidden: cannot `{verb}` namespaces: grant list and watch on namespaces "
                "in the ClusterRole, or run with --no-namespace-watch"
            )
        else:
            message = f"{verb} namespaces: HTTP {status} {exc.reason or ''}".strip()
        raise NamespaceWatchError(message, gone=status == 410) from None
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise NamespaceWatchError(f"cannot {verb} namespaces: {exc}") from None
