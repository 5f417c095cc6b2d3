"""What an earlier injection left on a pod, and how to remove it so injection is idempotent.

``sidecar.istio.io/status`` lists the containers, init containers and volumes the templates
injected. Stripping removes those containers (volumes and metadata are re-merged by name, so
they need no stripping) and the status annotation; the prometheus annotations we set are
replaced by the app's original ones, recovered from the old proxy's environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from injector import pods, probes, prometheus

STATUS = "sidecar.istio.io/status"


@dataclass(frozen=True)
class Previous:
    """What the pod carried from an earlier injection (empty for a fresh pod).

    ``containers`` are the injected containers as the pod carried them (by name), with
    whatever later admission plugins added to them; ``volumes`` the volumes we injected.
    """

    probers: dict[str, Any] = field(default_factory=dict)
    containers: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    volumes: frozenset[str] = frozenset()


def parse_status(text: str) -> dict[str, list[str]] | None:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    lists = {k: doc.get(k) or [] for k in ("containers", "initContainers", "volumes")}
    if not all(isinstance(names, list) for names in lists.values()):
        return None  # unreadable, as a status that is not JSON
    return {k: [n for n in names if isinstance(n, str)] for k, names in lists.items()}


def strip(
    metadata: dict[str, Any], spec: dict[str, Any], target_port: str
) -> tuple[dict[str, Any], dict[str, Any], Previous]:
    """(metadata, spec) without the earlier injection, plus what it recorded."""
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    status = parse_status(annotations[STATUS]) if STATUS in annotations else None
    if status is None:
        return metadata, spec, Previous()
    old_proxy = pods.container(spec, pods.PROXY)
    new_spec = dict(spec)
    removed: dict[str, Mapping[str, Any]] = {}
    for field_name in ("containers", "initContainers"):
        names = set(status[field_name])
        if names and spec.get(field_name):
            kept = []
            for c in spec[field_name]:
                if c.get("name") in names:
                    removed[str(c.get("name"))] = c
                else:
                    kept.append(c)
            new_spec[field_name] = kept
    new_annotations = {k: v for k, v in annotations.items() if k != STATUS}
    ours = {
        "prometheus.io/port": target_port,
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/scrape": "true",
    }
    if all(new_annotations.get(k) == v for k, v in ours.items()):
        # Exactly what the merge writes: put the app's own scrape settings back (Istio strips
        # on the port alone, which loses a user's own "15020" on re-injection).
        for key in ours:
            del new_annotations[key]
        new_annotations.update(_original_scrape(old_proxy))
    new_metadata = {**metadata, "annotations": new_annotations}
    previous = Previous(probes.previous(old_proxy), removed, frozenset(status["volumes"]))
    return new_metadata, new_spec, previous


def keep_foreign_mounts(pod: dict[str, Any], previous: Previous) -> dict[str, Any]:
    """``pod`` with the mounts other admission plugins added to our earlier containers.

    The API server's ServiceAccount plugin runs after a mutating webhook and mounts its token
    volume into every container, ours included; a re-injection rebuilds our containers from
    the templates and would drop that mount. A mount is foreign when its volume is not one we
    injected; it is put back unless the new container already mounts something there.
    """
    if not previous.containers:
        return pod
    spec = dict(pod.get("spec") or {})
    for field_name in ("initContainers", "containers"):
        if spec.get(field_name):
            spec[field_name] = [_with_foreign(c, previous) for c in spec[field_name]]
    return {**pod, "spec": spec}


def _with_foreign(container: dict[str, Any], previous: Previous) -> dict[str, Any]:
    old = previous.containers.get(str(container.get("name")))
    if old is None:
        return container
    mounts = list(container.get("volumeMounts") or [])
    taken = {m.get("mountPath") for m in mounts if isinstance(m, dict)}
    names = {m.get("name") for m in mounts if isinstance(m, dict)}
    foreign = [
        m
        for m in old.get("volumeMounts") or []
        if isinstance(m, dict)
        and m.get("name") not in previous.volumes
        and m.get("name") not in names
        and m.get("mountPath") not in taken
    ]
    if not foreign:
        return container
    return {**container, "volumeMounts": mounts + foreign}


def is_current(pod: Any, injected: Any) -> bool:
    """True when ``pod`` already holds everything ``injected`` has (a nested subset).

    Then the pod's injection is current: what remains of the difference is only what others
    added after us (the API server's defaults such as ``terminationMessagePath`` or a port's
    ``protocol``, a later plugin's mounts), which a patch must not take away. Lists match
    item by item; ``pod``'s may be longer.
    """
    if isinstance(injected, dict):
        return isinstance(pod, dict) and all(
            k in pod and is_current(pod[k], v) for k, v in injected.items()
        )
    if isinstance(injected, list):
        return (
            isinstance(pod, list)
            and len(pod) >= len(injected)
            and all(is_current(p, i) for p, i in zip(pod, injected, strict=False))
        )
    return bool(pod == injected)


def _original_scrape(proxy: Mapping[str, Any] | None) -> dict[str, str]:
    for env in (proxy or {}).get("env") or []:
        if isinstance(env, dict) and env.get("name") == prometheus.ENV:
            return prometheus.original_annotations(str(env.get("value") or ""))
    return {}


def status_annotation(template_spec: Mapping[str, Any], revision: str) -> str:
    def names(field_name: str) -> list[str] | None:
        found = [
            str(i.get("name")) for i in template_spec.get(field_name) or [] if isinstance(i, dict)
        ]
        return found or None

    return orjson.dumps(
        {
            "initContainers": names("initContainers"),
            "containers": names("containers"),
            "volumes": names("volumes"),
            "imagePullSecrets": names("imagePullSecrets"),
            "revision": revision or "default",
        }
    ).decode()
