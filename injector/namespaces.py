"""The namespace annotations injection depends on: OpenShift's UID range and groups.

OpenShift gives each namespace a UID range and supplemental groups
(``openshift.io/sa.scc.uid-range``, ``openshift.io/sa.scc.supplemental-groups``); the proxy
must run as the top of that range or the SCC admission rejects the pod. Only ``KEYS`` matter,
each value cut at ``MAX_VALUE`` characters (``kept``). ``Fixed`` serves
``inject --namespace-annotation``; the webhook keeps them current with a watch
(``injector.webhook.namespaces``) and ``injector inject`` with a kubeconfig reads them from
the cluster (``injector.clustercheck.ClusterNamespaces``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from injector import annotations as ann
from injector.errors import InjectorError

KEYS = ("openshift.io/sa.scc.uid-range", "openshift.io/sa.scc.supplemental-groups")
MAX_VALUE = 256  # a range is ~20 characters; a huge value is cut, never stored whole


class NamespaceWatchError(InjectorError):
    """Namespaces cannot be read (no credentials, no permission, unreachable); ``gone`` when
    a watch's resourceVersion has expired."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


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
    blocks = value.split(",") if key == KEYS[1] else [value]
    if value and not all(_usable(range_top(block)) for block in blocks):
        raise ValueError(
            f"{key}: expected START/SIZE (e.g. 1000620000/10000"
            f"{', comma-separated' if key == KEYS[1] else ''}) with a top ID no higher than "
            f"{MAX_ID}: {value!r}"
        )
    return key, value


MAX_ID = 2**31 - 1  # the highest runAsUser/runAsGroup the API server accepts


def _usable(top: int | None) -> bool:
    return top is not None and top <= MAX_ID


def range_top(text: str) -> int | None:
    """The highest ID of an OpenShift range ``START/SIZE`` (``None``: not such a range)."""
    start, _, size = text.strip().partition("/")
    if not (ann.is_decimal(start) and ann.is_decimal(size) and int(size) > 0):
        return None
    return int(start) + int(size) - 1


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
