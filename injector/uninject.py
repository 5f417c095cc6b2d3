"""Undo an injection: injected pod -> the pod as it was before, plus what could not be undone.

The pod's ``sidecar.istio.io/status`` annotation is the record of what was injected: the
containers, init containers, volumes and image pull secrets the templates added. They are
removed by name; a container the user had declared under the same name (recorded in
``proxy.istio.io/overrides``) is put back as the user wrote it. What the injection changed
on the rest of the pod is reversed from the records it left on the proxy:

- probes and lifecycle hooks pointed at the agent (``/app-health/...``) get their handlers
  back from ``ISTIO_KUBE_APP_PROBERS``;
- the Prometheus annotations pointed at the agent get the app's own back from
  ``ISTIO_PROMETHEUS_ANNOTATIONS`` (none, when the app had none);
- labels and annotations the templates set (``security.istio.io/tlsMode``, canonical
  labels, ``istio.io/rev``, ``kubectl.kubernetes.io/default-*container``) are removed when
  they hold the value the injection derives for this pod, and kept when they hold another
  (then the pod had its own).

Nothing is guessed silently: what has no record (annotations the CNI template sets, a probe
edited since injection, an override without its original list) comes back as a warning.
A pod without the status annotation is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from injector import annotations as ann
from injector import overrides, patch, podshape, probes, reinjection, restore
from injector.core import Injected, InjectionParams, Injector, Outcome, Skipped
from injector.errors import InjectionError, InjectorError
from injector.identity import Workload

STATUS = reinjection.STATUS
TEMPLATES = "inject.istio.io/templates"
# What the gateway template gives the pod (unless the values set a securityContext).
_GATEWAY_SYSCTL = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
PROXY = "istio-proxy"
_LISTS = ("containers", "initContainers")
# Set by the CNI template from the pod's own annotation or the values: no record tells which.
_CNI_ANNOTATIONS = (
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundPorts",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
)


class Uninjector:
    """``uninject`` in the shape of ``Injector.inject`` (what ``injector.manifests`` calls).

    With the ``Injector`` of the configuration the pods were injected with, the labels and
    annotations that re-injecting the result would put back unchanged go too: those of an
    operator's own templates, of ``injectedAnnotations``, of the CNI template. (A key the pod
    had itself with that very value cannot be told apart; re-injection gives the same pod.)
    """

    def __init__(self, injector: Injector | None = None) -> None:
        self.injector = injector

    def __call__(self, pod: Any, params: InjectionParams) -> Outcome:
        return uninject(pod, params.workload, self.injector, params)


def uninject(
    pod: Any,
    workload: Workload | None = None,
    injector: Injector | None = None,
    params: InjectionParams | None = None,
) -> Outcome:
    """The pod without its injection (``Injected``: the patch removes it), or ``Skipped``
    when the pod carries no injection. ``workload`` names the enclosing object, which the
    canonical-name label may have been derived from; ``injector`` and ``params``, when
    given, re-inject to find what else the injection added (see ``Uninjector``)."""
    metadata, spec = podshape.read(pod)
    annotations: dict[str, str] = dict(metadata.get("annotations") or {})
    if STATUS not in annotations:
        if _find(spec, PROXY) is not None:
            return Skipped(
                f"not injected by the record: an {PROXY} container but no {STATUS} annotation",
                (f"{PROXY} kept: without {STATUS} there is no record of what was injected",),
            )
        return Skipped(f"not injected (no {STATUS} annotation)")
    status = _status(annotations[STATUS])
    warnings: list[str] = []
    spec, removed = _remove_injected(spec, status, annotations, warnings)
    proxy = removed.get(PROXY) or {}
    env = {
        str(e.get("name")): str(e.get("value") or "")
        for e in proxy.get("env") or []
        if isinstance(e, dict)
    }
    spec = restore.probes(spec, env.get(probes.PROBERS_ENV, ""), warnings)
    templates = ann.split_list(annotations.get(TEMPLATES, "")) or ["sidecar"]
    if "gateway" in templates:
        spec = _without_gateway_sysctl(spec)
    annotations.pop(STATUS)
    annotations.pop(overrides.ANNOTATION, None)
    annotations = restore.pod_annotations(annotations, status, spec, env, templates, warnings)
    labels = restore.pod_labels(dict(metadata.get("labels") or {}), metadata, workload, env)
    metadata = _set(metadata, "annotations", annotations)
    metadata = _set(metadata, "labels", labels)
    restored = _set(dict(pod), "metadata", metadata)
    restored["spec"] = spec
    if injector is not None:
        restored = _without_redundant(restored, injector, params or InjectionParams(), warnings)
    kept = [k for k in _CNI_ANNOTATIONS if k in _section(restored, "annotations")]
    if injector is None and "istio-validation" in status["initContainers"] and kept:
        warnings.append(
            f"annotations kept: {', '.join(kept)} (the CNI template sets them, and whether "
            "the pod had them before is not recorded; --values with the cluster's values "
            "decides)"
        )
    names = [*status["initContainers"], *status["containers"]]
    reason = f"removed {', '.join(names) or 'the injection record'}"
    ops = _collapse_emptied(patch.make_patch(pod, restored), restored)
    return Injected(restored, ops, reason, tuple(warnings))


edit = Uninjector()  # without a configuration: the records alone


def _without_redundant(
    restored: dict[str, Any], injector: Injector, params: InjectionParams, warnings: list[str]
) -> dict[str, Any]:
    """``restored`` without each label and annotation that re-injection puts back as it is
    (re-injecting without it gives the very pod re-injecting with it gives)."""
    try:
        base = injector.inject(restored, params)
    except InjectorError as exc:
        warnings.append(
            f"not re-injected with the given configuration ({exc}): labels and "
            "annotations only injection sets may remain"
        )
        return restored
    if not isinstance(base, Injected):
        warnings.append(
            f"the given configuration would not inject the result ({base.reason}): "
            "labels and annotations only injection sets may remain"
        )
        return restored
    for section in ("labels", "annotations"):
        for key in list(_section(restored, section)):
            if key.startswith(restore.SCRAPE_PREFIXES):  # restored from the proxy's record
                continue
            candidate = _without_key(restored, section, key)
            try:
                again = injector.inject(candidate, params)
            except InjectorError:
                continue
            if isinstance(again, Injected) and again.pod == base.pod:
                restored = candidate
    return restored


def _section(pod: Mapping[str, Any], section: str) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get(section) or {}


def _without_key(pod: dict[str, Any], section: str, key: str) -> dict[str, Any]:
    values = {k: v for k, v in _section(pod, section).items() if k != key}
    metadata = _set(dict(pod.get("metadata") or {}), section, values)
    return _set(dict(pod), "metadata", metadata)


def record_on_job(pod: Mapping[str, Any], job: Any) -> bool:
    """Whether a CronJob's injection record is on its ``jobTemplate`` rather than its pod
    template (where Istio's kube-inject writes the pod's labels and annotations)."""
    own = (pod.get("metadata") or {}).get("annotations") or {}
    if STATUS in own or not isinstance(job, Mapping):
        return False
    metadata = job.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return isinstance(annotations, Mapping) and STATUS in annotations


def _collapse_emptied(ops: list[patch.Op], restored: Any) -> list[patch.Op]:
    """One ``replace`` with ``{}``/``[]`` instead of removing every item of a collection
    (in YAML text, deleting every line of a block would leave ``key:``, which is null)."""
    emptied: set[str] = set()
    for op in ops:
        parent = op["path"].rpartition("/")[0]
        if op["op"] == "remove" and parent and _resolve(restored, parent) in ({}, []):
            emptied.add(parent)
    if not emptied:
        return ops
    result: list[patch.Op] = []
    done: set[str] = set()
    for op in ops:
        parent = op["path"].rpartition("/")[0]
        if op["op"] == "remove" and parent in emptied:
            if parent not in done:
                done.add(parent)
                result.append(
                    {"op": "replace", "path": parent, "value": _resolve(restored, parent)}
                )
            continue
        result.append(op)
    return result


def _resolve(doc: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, list):
            doc = doc[int(token)] if token.isdigit() and int(token) < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(token)
        else:
            return None
    return doc


def _status(text: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InjectionError(f"annotation {STATUS} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InjectionError(f"annotation {STATUS} must be a JSON object")
    status: dict[str, Any] = {}
    for key in ("containers", "initContainers", "volumes", "imagePullSecrets"):
        names = doc.get(key) or []
        if not isinstance(names, list):
            raise InjectionError(f"annotation {STATUS}: {key} must be a list of names")
        status[key] = [n for n in names if isinstance(n, str)]
    status["revision"] = str(doc.get("revision") or "default")
    return status


# -- containers, volumes, pull secrets --------------------------------------------------------


def _remove_injected(
    spec: dict[str, Any],
    status: Mapping[str, Any],
    annotations: Mapping[str, str],
    warnings: list[str],
) -> tuple[dict[str, Any], dict[str, Mapping[str, Any]]]:
    """``spec`` without the injected containers, volumes and pull secrets (user overrides put
    back); returns it with the removed containers by name."""
    removed: dict[str, Mapping[str, Any]] = {}
    for field in _LISTS:
        names = set(status[field])
        items = spec.get(field)
        if not names or not items:
            continue
        kept = []
        for item in items:
            if isinstance(item, dict) and item.get("name") in names:
                removed[str(item["name"])] = item
            else:
                kept.append(item)
        spec[field] = kept
    spec = _reinsert_overrides(spec, overrides.recorded(annotations), status, warnings)
    mounted = _mounted(spec)
    volumes = set(status["volumes"])
    for name in sorted(volumes & mounted):
        warnings.append(
            f"volume {name} kept: it is listed as injected, but a remaining container mounts it"
        )
    spec = _without_names(spec, "volumes", volumes - mounted)
    secrets = set(status["imagePullSecrets"])
    before = {i.get("name") for i in spec.get("imagePullSecrets") or [] if isinstance(i, dict)}
    if secrets & before:
        warnings.append(
            f"imagePullSecrets removed as injected: {', '.join(sorted(secrets & before))} "
            "(the record does not tell whether the pod named them itself)"
        )
    spec = _without_names(spec, "imagePullSecrets", secrets)
    if "initContainers" in spec and not spec["initContainers"]:
        del spec["initContainers"]
    return spec, removed


def _reinsert_overrides(
    spec: dict[str, Any],
    recorded: Mapping[str, list[dict[str, Any]]],
    status: Mapping[str, Any],
    warnings: list[str],
) -> dict[str, Any]:
    """The user's own definitions of injected containers, back in the list they came from.

    An ``istio-proxy`` recorded among init containers without ``restartPolicy: Always`` was
    a regular container that native sidecars moved (an init container that never exits would
    block the pod); ``image: auto`` comes back where the record has no image.
    """
    for field in _LISTS:
        for definition in recorded.get(field, []):
            container = dict(definition)
            if "image" not in container:
                container["image"] = overrides.AUTO_IMAGE
            target = field
            if (
                field == "initContainers"
                and container.get("name") == PROXY
                and container.get("restartPolicy") != "Always"
            ):
                target = "containers"
            present = {c.get("name") for c in spec.get(target) or [] if isinstance(c, dict)}
            if container.get("name") in present:
                continue
            others = [c for c in spec.get(target) or [] if isinstance(c, dict)]
            if others:
                warnings.append(
                    f"container {container.get('name')}: restored from {overrides.ANNOTATION} "
                    f"at the end of {target} (its original position is not recorded)"
                )
            spec[target] = [*(spec.get(target) or []), container]
    return spec


def _without_gateway_sysctl(spec: dict[str, Any]) -> dict[str, Any]:
    context = spec.get("securityContext")
    if not isinstance(context, dict) or _GATEWAY_SYSCTL not in (context.get("sysctls") or []):
        return spec
    sysctls = [s for s in context["sysctls"] if s != _GATEWAY_SYSCTL]
    context = _set(dict(context), "sysctls", sysctls)
    return _set(spec, "securityContext", context)


def _mounted(spec: Mapping[str, Any]) -> set[str]:
    return {
        str(mount.get("name"))
        for field in _LISTS
        for container in spec.get(field) or []
        if isinstance(container, dict)
        for mount in container.get("volumeMounts") or []
        if isinstance(mount, dict)
    }


def _without_names(spec: dict[str, Any], field: str, names: set[str]) -> dict[str, Any]:
    items = spec.get(field)
    if not names or not items:
        return spec
    kept = [i for i in items if not (isinstance(i, dict) and i.get("name") in names)]
    if len(kept) == len(items):
        return spec
    if kept:
        spec[field] = kept
    else:
        del spec[field]
    return spec


def _find(spec: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for field in _LISTS:
        for container in spec.get(field) or []:
            if isinstance(container, dict) and container.get("name") == name:
                return container
    return None


def _set(mapping: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``mapping`` with ``key`` set to ``value``, or without it when ``value`` is empty."""
    if value:
        mapping[key] = value
    else:
        mapping.pop(key, None)
    return mapping
