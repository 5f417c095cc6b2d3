"""A faithful in-process fake of the few Kubernetes API paths the project uses.

A real threaded HTTP server on 127.0.0.1, driven by the real ``kubernetes`` client::

    with FakeKube() as kube:
        api = kubernetes.client.CoreV1Api(kube.api_client())
        kube.put(MWCS, webhook_config("injector", ["sidecar.example.io"]))

Resources: ``secrets`` (namespaced, ``/api/v1/namespaces/{ns}/secrets[/{name}]``) and
``mutatingwebhookconfigurations`` (cluster-scoped,
``/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations[/{name}]``).

Semantics kept from the real API server:
- one monotonically increasing ``resourceVersion`` across all objects;
- POST: 409 ``AlreadyExists``; 400 if ``metadata.resourceVersion`` is set;
- PUT: 404 if missing; 409 ``Conflict`` if the body's ``resourceVersion`` is stale
  (an empty one means an unconditional update);
- PATCH ``application/apply-patch+yaml`` (server-side apply, ``fieldManager`` required):
  ``webhooks[]`` merge by ``name``, only the given fields are set; without ``force`` a field
  owned by another manager with a different value is a 409; other patch types are 415;
- validation: ``kubernetes.io/tls`` Secrets need ``tls.crt`` and ``tls.key``; data must be
  base64; webhook entries need ``clientConfig``, ``sideEffects``, ``admissionReviewVersions``
  (422 ``Invalid``);
- list with ``fieldSelector=metadata.name=<n>``; ``?watch=true`` streams JSON lines
  (``ADDED``/``MODIFIED``/``DELETED``) resuming after ``resourceVersion``, with
  ``timeoutSeconds``; a resourceVersion older than the retained history gets an
  ``ERROR`` event with a 410 ``Gone`` Status (see ``compact``);
- errors are ``Status`` objects with ``reason``, ``message`` and ``code``.

Knobs: ``outage("refuse" | "503")`` / ``restore()``, ``deny(verb, resource)`` (403 with the
real message shape), ``compact()``, ``gate(verb, resource, parties)`` (force a race).
Every request is recorded in ``requests`` (see ``count``).

Simplification: field ownership is tracked only for ``caBundle``-style leaf fields written by
apply; applying fewer entries than before does not remove the omitted ones.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import kubernetes.client
import yaml

SECRETS = "secrets"
MWCS = "mutatingwebhookconfigurations"

_PATHS = [
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets(?:/(?P<name>[^/]+))?$"), SECRETS),
    (
        re.compile(
            r"^/apis/admissionregistration\.k8s\.io/v1/mutatingwebhookconfigurations"
            r"(?:/(?P<name>[^/]+))?$"
        ),
        MWCS,
    ),
]
_KINDS = {
    SECRETS: ("v1", "Secret"),
    MWCS: ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
}
Key = tuple[str, str, str]  # (resource, namespace or "", name)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass(frozen=True)
class RequestRecord:
    method: str
    verb: str
    resource: str
    name: str
    status: int


@dataclass(frozen=True)
class _Event:
    rv: int
    type: str
    key: Key
    obj: dict[str, Any]


def webhook_config(name: str, webhook_names: list[str], ca_bundle: bytes = b"") -> dict[str, Any]:
    """A valid MutatingWebhookConfiguration as Helm would install it (no caBundle by default)."""
    hooks = []
    for hook in webhook_names:
        client_config: dict[str, Any] = {
            "service": {"name": "injector", "namespace": "mesh-system", "path": "/inject"}
        }
        if ca_bundle:
            client_config["caBundle"] = base64.b64encode(ca_bundle).decode()
        hooks.append(
            {
                "name": hook,
                "clientConfig": client_config,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
            }
        )
    return {"metadata": {"name": name}, "webhooks": hooks}


def secret(namespace: str, name: str, data: dict[str, bytes]) -> dict[str, Any]:
    """An ``Opaque`` Secret as another client would write it."""
    return {
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


class FakeKube:
    """The fake API server; use as a context manager or call ``start``/``stop``."""

    def __init__(self) -> None:
        self._lock = threading.Condition(threading.RLock())
        self._objects: dict[Key, dict[str, Any]] = {}
        self._owners: dict[tuple[Key, str], str] = {}
        self._events: list[_Event] = []
        self._oldest_rv = 0  # watches from an rv below this get 410 Gone
        self._rv = 100
        self._denied: set[tuple[str, str]] = set()
        self._gates: dict[tuple[str, str], threading.Barrier] = {}
        self._mode: Literal["up", "503", "refuse"] = "up"
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()
        self.port = 0
        self.requests: list[RequestRecord] = []

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeKube:
        fake = self

        class Handler(_Handler):
            kube = fake

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            for conn in list(self._conns):
                _close_quietly(conn)
            self._lock.notify_all()

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_client(self) -> Any:
        """A real ``kubernetes`` ApiClient pointed at this server (no urllib3 retries)."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.retries = False
        return kubernetes.client.ApiClient(configuration)

    # knobs -------------------------------------------------------------------------------

    def outage(self, mode: Literal["refuse", "503"] = "refuse") -> None:
        """``refuse``: close the listener and all connections; ``503``: answer every request 503."""
        self._mode = mode
        if mode == "refuse":
            self.stop()

    def restore(self) -> None:
        if self._mode == "refuse":
            self._mode = "up"
            self.start()
        self._mode = "up"

    def deny(self, verb: str, resource: str) -> None:
        """Make RBAC refuse ``verb`` on ``resource`` with 403 Forbidden."""
        self._denied.add((verb, resource))

    def gate(self, verb: str, resource: str, parties: int) -> None:
        """Hold the next ``parties`` ``verb`` requests on ``resource`` until all have arrived,
        then let them race (once). Makes create/update races deterministic."""
        self._gates[(verb, resource)] = threading.Barrier(parties, timeout=10)

    def allow(self, verb: str, resource: str) -> None:
        self._denied.discard((verb, resource))

    def compact(self) -> None:
        """Forget the event history: watches from any older resourceVersion get 410 Gone."""
        with self._lock:
            self._events.clear()
            self._oldest_rv = self._rv + 1

    def count(self, verb: str, resource: str, status: int | None = None) -> int:
        return sum(
            1
            for r in list(self.requests)
            if r.verb == verb and r.resource == resource and (status is None or r.status == status)
        )

    # direct state access (no RBAC, no outage) ---------------------------------------------

    def get(self, resource: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def put(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or overwrite ``obj`` unconditionally, as another client would (emits events)."""
        meta = obj.get("metadata", {})
        key = (resource, meta.get("namespace", "") if resource == SECRETS else "", meta["name"])
        with self._lock:
            return self._store(key, copy.deepcopy(obj))

    def delete(self, resource: str, name: str, namespace: str = "") -> None:
        with self._lock:
            key = (resource, namespace, name)
            obj = self._objects.pop(key)
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._emit("DELETED", key, obj)

    # request handling (called by the handler) --------------------------------------------

    def handle(self, method: str, url: str, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        resource, namespace, name = _route(parts.path)
        verb = _verb(method, name, query)
        if self._mode == "503":
            raise ApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        if (verb, resource) in self._denied:
            raise ApiError(403, "Forbidden", _forbidden_message(verb, resource, namespace, name))
        key = (resource, namespace, name)
        barrier = self._gates.get((verb, resource))
        if barrier is not None:
            if barrier.wait() == 0:
                self._gates.pop((verb, resource), None)
        with self._lock:
            if verb == "get":
                return 200, self._require(key)
            if verb == "list":
                return 200, self._list(resource, namespace, query)
            if verb == "create":
                return 201, self._create(resource, namespace, _json(body))
            if verb == "update":
                return 200, self._update(key, _json(body))
            if verb == "patch":
                return 200, self._patch(key, headers.get("Content-Type", ""), body, query)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def watch(
        self, resource: str, namespace: str, query: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Watch events as dicts; ends after ``timeoutSeconds`` or when the server stops."""
        name = _field_name(query.get("fieldSelector", ""))
        deadline = time.monotonic() + float(query.get("timeoutSeconds", "1800"))
        server = self._server
        with self._lock:
            since = query.get("resourceVersion", "")
            if since in ("", "0"):
                start = self._rv
                for obj in self._matching(resource, namespace, name):
                    yield {"type": "ADDED", "object": obj}
            else:
                start = int(since)
                if start + 1 < self._oldest_rv:
                    yield {
                        "type": "ERROR",
                        "object": _status(410, "Expired", f"too old resource version: {start}"),
                    }
                    return
        while time.monotonic() < deadline and self._server is server and server is not None:
            with self._lock:
                pending = [
                    e
                    for e in self._events
                    if e.rv > start and _selects(e.key, resource, namespace, name)
                ]
                if not pending:
                    self._lock.wait(min(0.1, max(0.0, deadline - time.monotonic())))
                    continue
            for event in pending:
                start = event.rv
                yield {"type": event.type, "object": event.obj}

    # internals ---------------------------------------------------------------------------

    def _require(self, key: Key) -> dict[str, Any]:
        obj = self._objects.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        return copy.deepcopy(obj)

    def _matching(self, resource: str, namespace: str, name: str | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for k, o in sorted(self._objects.items())
            if _selects(k, resource, namespace, name)
        ]

    def _list(self, resource: str, namespace: str, query: dict[str, str]) -> dict[str, Any]:
        api_version, kind = _KINDS[resource]
        items = self._matching(resource, namespace, _field_name(query.get("fieldSelector", "")))
        for item in items:
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return {
            "apiVersion": api_version,
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def _create(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        name = meta.get("name", "")
        if meta.get("resourceVersion"):
            raise ApiError(
                400, "BadRequest", "resourceVersion should not be set on objects to be created"
            )
        key = (resource, namespace, name)
        if key in self._objects:
            raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists')
        meta["namespace"] = namespace or meta.get("namespace")
        return self._store(key, obj)

    def _update(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        current = self._require(key)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") != key[2]:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        wanted = meta.get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {key[0]} "{key[2]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        self._forget_owners(key)
        return self._store(key, obj)

    def _patch(
        self, key: Key, content_type: str, body: bytes, query: dict[str, str]
    ) -> dict[str, Any]:
        current = self._require(key)
        media = content_type.split(";")[0].strip()
        if media != "application/apply-patch+yaml":
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {media}",
            )
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(
                400, "BadRequest", "PATCH requests with apply content type require fieldManager"
            )
        patch = yaml.safe_load(body)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "apply patch must be an object")
        force = query.get("force") == "true"
        merged = self._apply(key, current, patch, manager, force)
        return self._store(key, merged)

    def _apply(
        self, key: Key, current: dict[str, Any], patch: dict[str, Any], manager: str, force: bool
    ) -> dict[str, Any]:
        merged = copy.deepcopy(current)
        hooks = {h["name"]: h for h in merged.get("webhooks", [])}
        for entry in patch.get("webhooks", []):
            target = hooks.get(entry.get("name"))
            if target is None:
                target = {"name": entry.get("name")}
                merged.setdefault("webhooks", []).append(target)
                hooks[target["name"]] = target
            for path, value in _leaves(entry, prefix=f"webhooks[{entry.get('name')}]"):
                owner = self._owners.get((key, path))
                if not force and owner not in (None, manager) and _lookup(target, path) != value:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Apply failed with 1 conflict: conflict with "{owner}": .{path}',
                    )
                self._owners[(key, path)] = manager
            _deep_merge(target, entry)
        return merged

    def _forget_owners(self, key: Key) -> None:
        for owned in [o for o in self._owners if o[0] == key]:
            del self._owners[owned]

    def _store(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        resource, namespace, name = key
        _validate(resource, obj)
        api_version, kind = _KINDS[resource]
        existing = self._objects.get(key)
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = existing["metadata"]["uid"] if existing else str(uuid.uuid4())
        meta["creationTimestamp"] = (
            existing["metadata"]["creationTimestamp"]
            if existing
            else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        obj["apiVersion"], obj["kind"] = api_version, kind
        self._objects[key] = obj
        self._emit("MODIFIED" if existing else "ADDED", key, obj)
        return copy.deepcopy(obj)

    def _emit(self, type_: str, key: Key, obj: dict[str, Any]) -> None:
        self._events.append(_Event(self._rv, type_, key, copy.deepcopy(obj)))
        self._lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kube: FakeKube

    def setup(self) -> None:
        super().setup()
        with self.kube._lock:
            self.kube._conns.add(self.connection)

    def finish(self) -> None:
        with self.kube._lock:
            self.kube._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_GET

    def _dispatch(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        resource, namespace, name, verb = "", "", "", self.command.lower()
        try:
            resource, namespace, name = _route(parts.path)
            verb = _verb(self.command, name, query)
            if (
                verb == "watch"
                and self.kube._mode == "up"
                and (verb, resource) not in self.kube._denied
            ):
                self._record(verb, resource, name, 200)
                self._stream(self.kube.watch(resource, namespace, query))
                return
            code, payload = self.kube.handle(self.command, self.path, self.headers, body)
        except ApiError as err:
            code, payload = err.code, _status(err.code, err.reason, err.message)
        self._record(verb, resource, name, code)
        self._send(code, payload)

    def _record(self, verb: str, resource: str, name: str, code: int) -> None:
        self.kube.requests.append(RequestRecord(self.command, verb, resource, name, code))

    def _send(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _route(path: str) -> tuple[str, str, str]:
    for pattern, resource in _PATHS:
        match = pattern.match(path)
        if match:
            groups = match.groupdict()
            return resource, groups.get("ns") or "", groups.get("name") or ""
    raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def _verb(method: str, name: str, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _forbidden_message(verb: str, resource: str, namespace: str, name: str) -> str:
    group = "admissionregistration.k8s.io" if resource == MWCS else ""
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    subject = f'{resource} "{name}" is forbidden' if name else f"{resource} is forbidden"
    return (
        f'{subject}: User "system:serviceaccount:mesh-system:injector" cannot {verb} '
        f'resource "{resource}" in API group "{group}"{scope}'
    )


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise ApiError(400, "BadRequest", f"invalid JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "BadRequest", "body must be a JSON object")
    return value


def _field_name(selector: str) -> str | None:
    if not selector:
        return None
    match = re.fullmatch(r"metadata\.name=(.+)", selector)
    if not match:
        raise ApiError(400, "BadRequest", f"unsupported fieldSelector {selector!r}")
    return match.group(1)


def _selects(key: Key, resource: str, namespace: str, name: str | None) -> bool:
    return (
        key[0] == resource
        and (not namespace or key[1] == namespace)
        and (name is None or key[2] == name)
    )


def _validate(resource: str, obj: dict[str, Any]) -> None:
    errors: list[str] = []
    if resource == SECRETS:
        data = obj.get("data") or {}
        for k, v in data.items():
            try:
                base64.b64decode(v, validate=True)
            except ValueError:
                errors.append(f"data[{k}]: Invalid value: illegal base64 data")
        if obj.get("type") == "kubernetes.io/tls":
            errors += [
                f"data[{k}]: Required value" for k in ("tls.crt", "tls.key") if k not in data
            ]
    else:
        for i, hook in enumerate(obj.get("webhooks") or []):
            errors += [
                f"webhooks[{i}].{f}: Required value"
                for f in ("clientConfig", "sideEffects", "admissionReviewVersions")
                if f not in hook
            ]
    if errors:
        raise ApiError(422, "Invalid", f"{_KINDS[resource][1]} is invalid: " + ", ".join(errors))


def _leaves(value: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for k, v in value.items():
        if k == "name":
            continue
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}.{k}")
        else:
            yield f"{prefix}.{k}", v


def _lookup(target: dict[str, Any], path: str) -> Any:
    node: Any = target
    for part in path.split(".")[1:]:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(target.get(k), dict):
            _deep_merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()
