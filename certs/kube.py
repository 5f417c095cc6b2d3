"""The few Kubernetes API calls the certificate manager makes (the only ``kubernetes`` import).

Every call translates client errors into ``certs.errors``: 403 becomes
``PermissionDeniedError`` naming the verb and resource, 409 ``ConflictError``, 404
``NotFoundError`` (reads return ``None`` instead), anything else ``ClusterAccessError``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import config as _config
from kubernetes import watch as _watch
from kubernetes.client.exceptions import ApiException

from certs.errors import (
    ClusterAccessError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

logger = logging.getLogger(__name__)

# The client's models and helpers are only partly typed; we pass plain dicts and read models.
config: Any = _config
watch: Any = _watch

SECRETS = "secrets"
MWCS = "mutatingwebhookconfigurations"


@dataclass(frozen=True)
class SecretState:
    """A Secret's decoded ``data`` and the ``resourceVersion`` it was read at."""

    data: Mapping[str, bytes]
    resource_version: str


@dataclass(frozen=True)
class WebhookConfigState:
    """The live ``caBundle`` of each webhook entry (``b""`` when unset)."""

    ca_bundles: Mapping[str, bytes]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    type: str
    resource_version: str


@dataclass(frozen=True)
class ObjectMeta:
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def make_api_client(kubeconfig: str | None = None) -> Any:
    """In-cluster config when running in a pod, else the kubeconfig (``$KUBECONFIG``/default)."""
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            return client.ApiClient()
        return config.new_client_from_config(config_file=kubeconfig)
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        raise ClusterAccessError(f"no usable cluster credentials: {exc}") from None


class WatchStreams:
    """The open streaming responses of a client's watches, so shutdown can cut them off.

    A watch thread sits in a blocking read of a streaming response for up to
    ``timeout_seconds``; shutting its socket down makes that read return, so the thread
    notices the stop at once instead of when the server next sends something.
    """

    def __init__(self) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """End every open watch now, and any started later at once."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for response in streams:
            response.shutdown()

    def tracked(self, func: Any) -> Any:
        """``func`` whose streaming responses ``close`` can shut down."""

        def request(*args: Any, **kwargs: Any) -> Any:
            response = func(*args, **kwargs)
            with self._lock:
                self._streams.add(response)
                closed = self._closed
            if closed:
                response.shutdown()
            return response

        return request


class KubeApi:
    """Thin typed wrappers over ``CoreV1Api`` and ``AdmissionregistrationV1Api``."""

    def __init__(self, api_client: Any, *, request_timeout: float = 10.0) -> None:
        self._core: Any = client.CoreV1Api(api_client)
        self._admission: Any = client.AdmissionregistrationV1Api(api_client)
        self._timeout = request_timeout
        self._streams = WatchStreams()

    def close_watches(self) -> None:
        """End every open watch now, and any started later at once (for shutdown)."""
        self._streams.close()

    def read_secret(self, namespace: str, name: str) -> SecretState | None:
        with _translate("get", SECRETS, name, namespace, missing_ok=True):
            return _secret_state(
                self._core.read_namespaced_secret(name, namespace, _request_timeout=self._timeout)
            )
        return None

    def create_secret(
        self, namespace: str, name: str, data: Mapping[str, bytes], meta: ObjectMeta
    ) -> SecretState:
        body = _secret_body(namespace, name, data, meta, resource_version=None)
        with _translate("create", SECRETS, name, namespace):
            return _secret_state(
                self._core.create_namespaced_secret(namespace, body, _request_timeout=self._timeout)
            )

    def replace_secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, bytes],
        meta: ObjectMeta,
        resource_version: str,
    ) -> SecretState:
        """Update guarded by ``resource_version``: a concurrent writer yields ``ConflictError``."""
        body = _secret_body(namespace, name, data, meta, resource_version)
        with _translate("update", SECRETS, name, namespace):
            return _secret_state(
                self._core.replace_namespaced_secret(
                    name, namespace, body, _request_timeout=self._timeout
                )
            )

    def secret_list_version(self, namespace: str, name: str) -> str:
        """The collection ``resourceVersion`` to start a watch from."""
        with _translate("list", SECRETS, name, namespace):
            result = self._core.list_namespaced_secret(
                namespace, field_selector=f"metadata.name={name}", _request_timeout=self._timeout
            )
            return str(result.metadata.resource_version)

    def watch_secret(
        self, namespace: str, name: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[WatchEvent]:
        return self._watch(
            self._core.list_namespaced_secret,
            ("watch", SECRETS, name, namespace),
            resource_version,
            timeout_seconds,
            namespace,
        )

    def read_webhook_config(self, name: str) -> WebhookConfigState | None:
        with _translate("get", MWCS, name, None, missing_ok=True):
            return _mwc_state(
                self._admission.read_mutating_webhook_configuration(
                    name, _request_timeout=self._timeout
                )
            )
        return None

    def apply_ca_bundle(
        self, name: str, webhook_names: Sequence[str], bundle_pem: bytes, field_manager: str
    ) -> WebhookConfigState:
        """Server-side apply of only ``webhooks[*].clientConfig.caBundle`` for our entries."""
        encoded = base64.b64encode(bundle_pem).decode()
        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{"name": n, "clientConfig": {"caBundle": encoded}} for n in webhook_names],
        }
        with _translate("patch", MWCS, name, None):
            return _mwc_state(
                self._admission.patch_mutating_webhook_configuration(
                    name,
                    body,
                    field_manager=field_manager,
                    force=True,
                    _content_type="application/apply-patch+yaml",
                    _request_timeout=self._timeout,
                )
            )

    def webhook_config_list_version(self, name: str) -> str:
        with _translate("list", MWCS, name, None):
            result = self._admission.list_mutating_webhook_configuration(
                field_selector=f"metadata.name={name}", _request_timeout=self._timeout
            )
            return str(result.metadata.resource_version)

    def watch_webhook_config(
        self, name: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[WatchEvent]:
        return self._watch(
            self._admission.list_mutating_webhook_configuration,
            ("watch", MWCS, name, None),
            resource_version,
            timeout_seconds,
        )

    def _watch(
        self,
        func: Any,
        what: tuple[str, str, str, str | None],
        resource_version: str,
        timeout_seconds: int,
        *args: Any,
    ) -> Iterator[WatchEvent]:
        """One watch request from ``resource_version``; ends after ``timeout_seconds``."""
        verb, resource, name, namespace = what
        stream = watch.Watch().stream(
            self._streams.tracked(func),
            *args,
            field_selector=f"metadata.name={name}",
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            _request_timeout=timeout_seconds + self._timeout,
        )
        with _translate(verb, resource, name, namespace):
            for event in stream:
                obj = event.get("raw_object") or {}
                version = str(obj.get("metadata", {}).get("resourceVersion", resource_version))
                yield WatchEvent(type=str(event.get("type")), resource_version=version)


@contextmanager
def _translate(
    verb: str, resource: str, name: str, namespace: str | None, *, missing_ok: bool = False
) -> Iterator[None]:
    where = f"in namespace `{namespace}`" if namespace else "(cluster-scoped)"
    role = "Role" if namespace else "ClusterRole"
    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        if status == 404 and missing_ok:
            return
        detail = f"{verb} {resource} `{name}` {where}: HTTP {status} {_api_message(exc)}"
        if status == 403:
            raise PermissionDeniedError(
                f"forbidden: cannot `{verb}` {resource} `{name}` {where}: grant it in the {role}"
            ) from None
        if status == 409:
            raise ConflictError(f"conflict: {detail}") from None
        if status == 404:
            raise NotFoundError(f"not found: {detail}") from None
        raise ClusterAccessError(f"API error: {detail}") from None
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        raise ClusterAccessError(
            f"cannot reach the API server to {verb} {resource} `{name}`: {exc}"
        ) from None


def _api_message(exc: ApiException) -> str:
    """The ``Status.message`` of an error reply, else the HTTP reason."""
    try:
        message = json.loads(exc.body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.reason or "").strip()


def _secret_body(
    namespace: str,
    name: str,
    data: Mapping[str, bytes],
    meta: ObjectMeta,
    resource_version: str | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(meta.labels),
        "annotations": dict(meta.annotations),
    }
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": metadata,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def _secret_state(secret: Any) -> SecretState:
    data: dict[str, bytes] = {}
    for key, value in (secret.data or {}).items():
        try:
            data[key] = base64.b64decode(value or "", validate=True)
        except ValueError:
            logger.warning("Secret key %r is not valid base64; treating it as empty", key)
            data[key] = b""
    return SecretState(data=data, resource_version=str(secret.metadata.resource_version))


def _mwc_state(mwc: Any) -> WebhookConfigState:
    bundles: dict[str, bytes] = {}
    for hook in mwc.webhooks or []:
        raw = (hook.client_config.ca_bundle if hook.client_config else None) or ""
        try:
            bundles[hook.name] = base64.b64decode(raw, validate=True)
        except ValueError:
            bundles[hook.name] = b""
    return WebhookConfigState(
        ca_bundles=bundles, resource_version=str(mwc.metadata.resource_version)
    )
