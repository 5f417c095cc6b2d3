"""User overrides of injected containers, by container name.

A pod may declare a container named like one a template injects (``istio-proxy``,
``istio-init``, ...). That definition is merged *over* the rendered one (the user wins;
``image: auto`` keeps the injected image) and recorded in ``proxy.istio.io/overrides``, so a
re-injection, which first strips what was injected, can put the user's definition back and
reproduce the same pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from injector import merge, pods, quantity
from injector.errors import InjectionError

ANNOTATION = "proxy.istio.io/overrides"
AUTO_IMAGE = "auto"
_LISTS = ("containers", "initContainers")


def recorded(annotations: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    if ANNOTATION not in annotations:
        return {}
    try:
        doc = orjson.loads(annotations[ANNOTATION])
    except orjson.JSONDecodeError as exc:
        raise InjectionError(f"annotation {ANNOTATION} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InjectionError(f"annotation {ANNOTATION} must be a JSON object")
    lists = {k: doc.get(k) or [] for k in _LISTS}
    for key, items in lists.items():
        if not isinstance(items, list):
            raise InjectionError(f"annotation {ANNOTATION}: {key} must be a list of containers")
    return {k: [c for c in items if isinstance(c, dict)] for k, items in lists.items()}


def reinsert(spec: dict[str, Any], overrides: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Put recorded overrides back into a stripped pod spec (those not present already)."""
    if not overrides:
        return spec
    spec = dict(spec)
    for field in _LISTS:
        present = {c.get("name") for c in spec.get(field) or []}
        extra = [c for c in overrides.get(field, []) if c.get("name") not in present]
        if extra:
            spec[field] = list(spec.get(field) or []) + extra
    return spec


def place_like(spec: dict[str, Any], template_spec: Mapping[str, Any]) -> dict[str, Any]:
    """Move user containers named like injected ones into the list the templates use.

    With native sidecars a user ``istio-proxy`` declared under ``containers`` becomes an init
    container (and the reverse, e.g. when a recorded override meets classic mode).
    """
    for target, other in (("initContainers", "containers"), ("containers", "initContainers")):
        wanted = {c.get("name") for c in template_spec.get(target) or [] if isinstance(c, dict)}
        present = {c.get("name") for c in spec.get(target) or [] if isinstance(c, dict)}
        movers = [
            c
            for c in spec.get(other) or []
            if isinstance(c, dict) and c.get("name") in wanted - present
        ]
        if movers:
            spec = {
                **spec,
                other: [c for c in spec.get(other) or [] if not any(c is m for m in movers)],
                target: list(spec.get(target) or []) + movers,
            }
    return spec


def reapply(
    merged: dict[str, Any], user_spec: Mapping[str, Any], template_spec: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Merge the user's definitions over injected containers; returns (spec, what to record)."""
    record: dict[str, list[dict[str, Any]]] = {}
    user = {
        c.get("name"): c
        for field in _LISTS
        for c in user_spec.get(field) or []
        if isinstance(c, dict)
    }
    for field in _LISTS:
        for injected in template_spec.get(field) or []:
            match = user.get(injected.get("name"))
            if match is None:
                continue
            overlay = {k: v for k, v in match.items() if not (k == "image" and v == AUTO_IMAGE)}
            if isinstance(overlay.get("resources"), dict):
                overlay["resources"] = _canonical_resources(overlay["resources"], match)
            record.setdefault(field, []).append(overlay)
            merged = {
                **merged,
                field: merge.merge_list(list(merged.get(field) or []), [overlay], "name"),
            }
    return merged, record


def _canonical_resources(resources: Mapping[str, Any], container: Mapping[str, Any]) -> Any:
    """Quantities in the API server's canonical form (``3000m`` -> ``3``), as Istio writes
    an overridden container; an invalid one denies the pod, naming the container."""
    result: dict[str, Any] = dict(resources)
    for section in ("requests", "limits"):
        entries = resources.get(section)
        if not isinstance(entries, Mapping):
            continue
        try:
            result[section] = {k: quantity.canonical(str(v)) for k, v in entries.items()}
        except ValueError as exc:
            name = container.get("name")
            raise InjectionError(f"container {name}: resources.{section}: {exc}") from exc
    return result


def encode(record: Mapping[str, list[dict[str, Any]]]) -> str:
    return orjson.dumps({k: record[k] for k in _LISTS if record.get(k)}).decode()


def user_proxy(user_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The user's own ``istio-proxy`` container, if the pod declares one."""
    return pods.container(user_spec, pods.PROXY)


def drop_scc_user(
    spec: dict[str, Any], namespace_annotations: Mapping[str, str] | None
) -> dict[str, Any]:
    """OpenShift: a ``runAsUser`` on the user's istio-proxy that equals an app container's
    is dropped. The SCC admission writes the namespace's first UID into every container that
    has none, the user's istio-proxy included; kept, it would become istio-init's ``-u`` and
    exempt the app's own traffic from redirection. The proxy keeps its own UID instead."""
    if not (namespace_annotations or {}).get("openshift.io/sa.scc.uid-range"):
        return spec
    proxy = user_proxy(spec)
    context = (proxy or {}).get("securityContext")
    if not isinstance(context, Mapping) or context.get("runAsUser") is None:
        return spec
    app_users = {
        (c.get("securityContext") or {}).get("runAsUser")
        for field in _LISTS
        for c in spec.get(field) or []
        if isinstance(c, dict)
        and c.get("name") != "istio-proxy"
        and isinstance(c.get("securityContext"), Mapping)
    }
    if context["runAsUser"] not in app_users:
        return spec
    kept = {k: v for k, v in context.items() if k != "runAsUser"}
    return pods.with_container(spec, "istio-proxy", lambda c: {**c, "securityContext": kept})


def adjust_init_user(
    spec: dict[str, Any], proxy: Mapping[str, Any] | None, tproxy: bool
) -> dict[str, Any]:
    """A user ``runAsUser``/``runAsGroup`` on istio-proxy: istio-init's and istio-validation's
    ``-u`` (never 0; not in TPROXY), and istio-validation runs as that user (CNI mode)."""
    context = (proxy or {}).get("securityContext") or {}
    uid = context.get("runAsUser")
    gid = context.get("runAsGroup")
    if uid is None and gid is None:
        return spec
    if tproxy and uid is not None:
        spec = pods.with_container(
            spec,
            "istio-proxy",
            lambda c: {**c, "securityContext": {**c.get("securityContext", {}), "runAsUser": 0}},
        )
    if not tproxy:
        spec = pods.with_container(spec, "istio-validation", lambda c: _with_ids(c, uid, gid))
    if not isinstance(uid, int) or uid == 0:
        return spec
    for name in ("istio-init", "istio-validation"):
        spec = pods.with_container(spec, name, lambda c: _with_uid_arg(c, uid))
    return spec


def _with_ids(container: dict[str, Any], uid: Any, gid: Any) -> dict[str, Any]:
    context = dict(container.get("securityContext") or {})
    if uid is not None:
        context["runAsUser"] = uid
    if gid is not None:
        context["runAsGroup"] = gid
    return {**container, "securityContext": context}


def _with_uid_arg(container: dict[str, Any], uid: int) -> dict[str, Any]:
    args = list(container.get("args") or [])
    for i, arg in enumerate(args[:-1]):
        if arg == "-u":
            args[i + 1] = str(uid)
            return {**container, "args": args}
    return container
