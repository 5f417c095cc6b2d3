"""``injector check`` with the cluster's view: namespace labels and the live webhook selectors.

The API server decides whether the webhook is called at all, from the ``namespaceSelector``
and ``objectSelector`` of each entry of the MutatingWebhookConfiguration; only then does the
injector's own policy run. Offline neither is known, so ``check`` can only say what the
policy would do *if* the pod reached the webhook. With a kubeconfig this module reads the
namespaces the manifests name and every MutatingWebhookConfiguration labelled
``app.kubernetes.io/part-of=sidecar-injector`` (all revisions), and explains the selection
with them. ``matchConditions`` (CEL) are not evaluated; ours only skip mirror pods.

``selection`` is pure; ``fetch`` is the only code here that talks to the API server, besides
``ClusterNamespaces``, which reads the OpenShift annotations of the namespaces ``injector
inject`` meets (one read each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from injector import selectors
from injector.errors import InjectorError
from injector.namespaces import NamespaceWatchError, kept

PART_OF = "app.kubernetes.io/part-of=sidecar-injector"


class ClusterCheckError(InjectorError):
    """The cluster could not be read (credentials, reachability, permissions)."""


@dataclass(frozen=True)
class Entry:
    """One webhook entry: which configuration it is in and what it selects."""

    config: str
    name: str
    namespace_selector: Mapping[str, Any]
    object_selector: Mapping[str, Any]


@dataclass(frozen=True)
class ClusterView:
    """What the API server knows: labels by namespace (``None``: no such namespace)."""

    namespaces: Mapping[str, Mapping[str, str] | None]
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Selection:
    entry: Entry | None
    reason: str


def selection(view: ClusterView, namespace: str, pod_labels: Mapping[str, str]) -> Selection:
    """Which webhook entry the API server would call for this pod, and why (or why none)."""
    labels = view.namespaces.get(namespace)
    if labels is None:
        return Selection(None, f"namespace {namespace} does not exist in the cluster")
    if not view.entries:
        return Selection(None, "no MutatingWebhookConfiguration of sidecar-injector is installed")
    for entry in view.entries:
        if selectors.matches(entry.namespace_selector, labels) and selectors.matches(
            entry.object_selector, pod_labels
        ):
            return Selection(entry, f"selected by webhook {entry.config}/{entry.name}")
    return Selection(
        None,
        f"no webhook entry selects it: namespace {namespace} labels {_show(labels)}, "
        f"pod labels {_show(pod_labels)}",
    )


def _show(labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "kubernetes.io/metadata.name"}
    return ",".join(f"{k}={v}" for k, v in sorted(shown.items())) or "(none)"


def fetch(kubeconfig: str | None, namespaces: Iterable[str]) -> ClusterView:
    """Read the namespaces and our webhook configurations (``kubeconfig``: else $KUBECONFIG)."""
    import kubernetes  # only with --kubeconfig / $KUBECONFIG
    from kubernetes.client.exceptions import ApiException

    client: Any = kubernetes.client  # the client's models are only partly typed
    config: Any = kubernetes.config

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        raise ClusterCheckError(f"cannot load kubeconfig {kubeconfig or ''}: {exc}") from None
    configuration.retries = 0  # one attempt: a person is waiting for the answer
    api = client.ApiClient(configuration)
    core = client.CoreV1Api(api)
    admission = client.AdmissionregistrationV1Api(api)
    try:
        labels = {n: _namespace_labels(core, n) for n in sorted(set(namespaces))}
        configs = admission.list_mutating_webhook_configuration(
            label_selector=PART_OF, _request_timeout=10
        )
    except ApiException as exc:
        raise ClusterCheckError(f"reading the cluster: HTTP {exc.status} {exc.reason}") from None
    except Exception as exc:  # urllib3/socket errors: one line, no traceback
        raise ClusterCheckError(f"cannot reach the API server: {exc}") from None
    entries = tuple(
        Entry(
            str(mwc.metadata.name),
            str(hook.name),
            _selector(hook.namespace_selector),
            _selector(hook.object_selector),
        )
        for mwc in sorted(configs.items, key=lambda m: str(m.metadata.name))
        for hook in mwc.webhooks or []
    )
    return ClusterView(labels, entries)


def _namespace_labels(core: Any, name: str) -> dict[str, str] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        namespace = core.read_namespace(name, _request_timeout=10)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(namespace.metadata.labels or {})


def _selector(selector: Any) -> dict[str, Any]:
    """A client LabelSelector model as the plain mapping ``selectors.matches`` reads."""
    if selector is None:
        return {}
    expressions = [
        {"key": e.key, "operator": e.operator, "values": list(e.values or [])}
        for e in selector.match_expressions or []
    ]
    return {"matchLabels": dict(selector.match_labels or {}), "matchExpressions": expressions}


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
        import urllib3
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
