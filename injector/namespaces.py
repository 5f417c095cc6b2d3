"""The namespace annotations injection depends on, kept current by a watch of Namespaces.

OpenShift gives each namespace a UID range and supplemental groups
(``openshift.io/sa.scc.uid-range``, ``openshift.io/sa.scc.supplemental-groups``); the proxy
must run as the top of that range or the SCC admission rejects the pod. The webhook reads them
here, from memory, without an API call on the admission path.

``NamespaceCache`` lists Namespaces once (in pages), then watches from the list's
``resourceVersion`` with bookmarks; a watch that ends is resumed from the last version seen,
and one that expired (410 Gone) or failed is answered with a fresh list after a short wait.
Memory stays bounded: only namespaces that carry one of ``KEYS`` are stored, and only those
annotations, each value cut at ``MAX_VALUE`` characters. ``stop`` cuts the open watch off at
once (its socket is shut down), so shutdown never waits for the watch timeout.

``NamespaceApi`` and ``ClusterNamespaces`` (``injector inject`` with a kubeconfig: one read
per namespace the manifests name) are the only code here that talks to the API server; the
cache takes any object with ``Source``'s three methods, so its logic is tested without a
cluster. ``Fixed`` is ``inject --namespace-annotation``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3

from injector.errors import InjectorError

logger = logging.getLogger(__name__)

KEYS = ("openshift.io/sa.scc.uid-range", "openshift.io/sa.scc.supplemental-groups")
MAX_VALUE = 256  # a range is ~20 characters; a huge value is cut, never stored whole
PAGE = 500


class NamespaceWatchError(InjectorError):
    """Namespaces cannot be read (no credentials, no permission, unreachable); ``gone`` when
    a watch's resourceVersion has expired."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


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


def kept(annotations: Mapping[str, Any] | None) -> dict[str, str]:
    """The annotations of ``KEYS`` only, values cut at ``MAX_VALUE``."""
    if not annotations:
        return {}
    return {k: str(annotations[k])[:MAX_VALUE] for k in KEYS if k in annotations}


def parse_flag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--namespace-annotation``; ``KEY`` must be one of ``KEYS``."""
    key, sep, value = text.partition("=")
    if not sep or key not in KEYS:
        raise ValueError(f"expected KEY=VALUE with KEY one of {', '.join(KEYS)}: {text!r}")
    return key, value


class Fixed:
    """The same annotations for every namespace, over what ``fallback`` says (if any)."""

    def __init__(
        self,
        annotations: Mapping[str, str],
        fallback: Callable[[str], Mapping[str, str] | None] | None = None,
    ) -> None:
        self._annotations = dict(annotations)
        self._fallback = fallback

    def __call__(self, namespace: str) -> Mapping[str, str] | None:
        found = self._fallback(namespace) if self._fallback is not None else None
        merged = {**(found or {}), **self._annotations}
        return merged or None


class ClusterNamespaces:
    """A namespace's kept annotations read from the cluster, once per namespace."""

    def __init__(self, kubeconfig: str | None, *, request_timeout: float = 10.0) -> None:
        self._kubeconfig = kubeconfig
        self._timeout = request_timeout
        self._core: Any = None
        self._seen: dict[str, dict[str, str] | None] = {}

    def __call__(self, namespace: str) -> Mapping[str, str] | None:
        if namespace not in self._seen:
            self._seen[namespace] = self._read(namespace)
        return self._seen[namespace]

    def _read(self, namespace: str) -> dict[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        core = self._client()
        try:
            found = core.read_namespace(namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            reason = f"HTTP {exc.status} {exc.reason or ''}".strip()
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            reason = str(exc)
        else:
            return kept(found.metadata.annotations) or None
        raise NamespaceWatchError(
            f"cannot read namespace {namespace} from the cluster: {reason} "
            "(--offline: do not read it)"
        )

    def _client(self) -> Any:
        if self._core is None:
            import kubernetes

            client: Any = kubernetes.client
            config: Any = kubernetes.config
            configuration = client.Configuration()
            try:
                config.load_kube_config(
                    config_file=self._kubeconfig, client_configuration=configuration
                )
            except (config.ConfigException, OSError, TypeError, ValueError) as exc:
                raise NamespaceWatchError(
                    f"cannot load kubeconfig {self._kubeconfig or ''}: {exc} "
                    "(--offline: do not read the cluster)"
                ) from None
            configuration.retries = 0  # one attempt: a person is waiting for the answer
            self._core = client.CoreV1Api(client.ApiClient(configuration))
        return self._core


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
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

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
            self._tracked(self._core.list_namespace),
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
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for response in streams:
            response.shutdown()

    def _tracked(self, func: Any) -> Any:
        def request(*args: Any, **kwargs: Any) -> Any:
            response = func(*args, **kwargs)
            with self._lock:
                self._streams.add(response)
                closed = self._closed
            if closed:
                response.shutdown()
            return response

        return request


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
