"""The injection core: pod + config (+ request facts) -> injected pod and JSON Patch.

Pure and shared: the webhook and ``injector inject`` both call ``Injector.inject``, so they
can never disagree. ``Injector.inject`` decides and validates (``policy.decide``, all
annotation problems at once), then ``_inject`` walks the pod through one step each, as in
Istio's ``injectPod``:

1. ``_user_pod``: strip an earlier injection and put recorded user overrides back
   (idempotency), and derive the per-pod settings;
2. ``_render``: render the selected templates into partial pods (through the render cache);
3. ``_injected_spec``: what the templates inject on their own (it names the injected parts;
   ``_check_unique_names`` refuses one container injected twice);
4. ``_merge_partials``: strategic-merge the partials onto the user's pod, one by one;
5. ``_honour_user_overrides``: the user's definitions of injected containers win;
6. ``postprocess.apply``: URL env overrides, Prometheus merge, probe rewriting, status
   annotation, container order;

and last ``patch.make_patch`` diffs the original pod against the result (linear time).

The input pod is never mutated; the result shares untouched subtrees with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from injector import annotations as ann
from injector import (
    context,
    identity,
    merge,
    overrides,
    patch,
    podshape,
    policy,
    postprocess,
    reinjection,
    render_cache,
    template,
    uservolumes,
)
from injector.config import InjectorConfig
from injector.errors import AnnotationError, InjectionError
from injector.identity import Workload

logger = logging.getLogger(__name__)
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
NETWORK_LABEL = "topology.istio.io/network"


@dataclass(frozen=True)
class InjectionParams:
    """Facts about the request that are not in the pod."""

    namespace: str | None = None  # the request's namespace (pods from controllers have none)
    workload: Workload | None = None  # the enclosing object, when known (``injector inject``)
    proxy_env: Mapping[str, str] = field(default_factory=dict)  # from /inject/<k>/<v> paths
    namespace_annotations: Mapping[str, str] | None = None  # OpenShift UID ranges


@dataclass(frozen=True)
class Skipped:
    reason: str
    warnings: tuple[str, ...] = ()
    injected: bool = field(default=False, init=False)


@dataclass(frozen=True)
class Injected:
    pod: dict[str, Any]
    patch: list[dict[str, Any]]
    reason: str
    warnings: tuple[str, ...] = ()
    injected: bool = field(default=True, init=False)


Outcome = Injected | Skipped


NamespaceAnnotations = Callable[[str], Mapping[str, str] | None]


class Injector:
    """Injects pods with one config; keeps a cache of rendered templates for that config.

    ``namespaces`` gives a namespace's annotations (OpenShift UID ranges) to requests whose
    ``InjectionParams`` carry none (``injector inject``: flags and the cluster).
    """

    def __init__(
        self,
        config: InjectorConfig,
        cache_bytes: int = 32 * 2**20,
        namespaces: NamespaceAnnotations | None = None,
    ) -> None:
        self.config = config
        self.cache = render_cache.RenderCache(cache_bytes)
        self.namespaces = namespaces
        # The agent port Prometheus scrapes after the metrics merge (mesh defaultConfig).
        self.metrics_port = str(config.mesh.get("defaultConfig", {}).get("statusPort", 15020))

    def inject(self, pod: Any, params: InjectionParams | None = None) -> Outcome:
        params = params or InjectionParams()
        metadata, spec = podshape.read(pod)
        namespace = metadata.get("namespace") or params.namespace or "default"
        decision = policy.decide(metadata, spec, namespace, self.config)
        warnings = [decision.warning] if decision.warning else []
        if not decision.inject:
            return Skipped(decision.reason, tuple(warnings))
        problems = ann.validate(metadata.get("annotations") or {})
        if problems:
            raise AnnotationError(problems)
        if params.namespace_annotations is None and self.namespaces is not None:
            params = replace(params, namespace_annotations=self.namespaces(namespace))
        final = self._inject(pod, metadata, spec, namespace, params, warnings)
        problems = uservolumes.check_pod(metadata.get("annotations") or {}, final["spec"])
        if problems:
            raise AnnotationError(problems)
        if reinjection.STATUS in (metadata.get("annotations") or {}) and reinjection.is_current(
            pod, final
        ):
            # A reinvocation (or an already-injected manifest): change nothing.
            reason = f"{decision.reason}; injection already current"
            return Injected(dict(pod), [], reason, tuple(warnings))
        return Injected(final, patch.make_patch(pod, final), decision.reason, tuple(warnings))

    def _inject(
        self,
        pod: Mapping[str, Any],
        metadata: dict[str, Any],
        spec: dict[str, Any],
        namespace: str,
        params: InjectionParams,
        warnings: list[str],
    ) -> dict[str, Any]:
        user = self._user_pod(metadata, spec, namespace, params)
        names = self._templates(user.metadata.get("annotations") or {})
        partials = self._render(names, user)
        injected = _injected_spec(partials)
        _check_unique_names(injected, names)
        merged = _merge_partials(pod, user, partials, injected)
        merged["spec"], record = _honour_user_overrides(merged["spec"], user, injected)
        facts = postprocess.Facts(
            injected,
            record,
            user.settings,
            user.previous,
            _proxy_env(params.proxy_env, user.metadata),
            self.metrics_port,
        )
        final = postprocess.apply(merged, facts, self.config, warnings)
        return reinjection.keep_foreign_mounts(final, user.previous)

    def _user_pod(
        self,
        metadata: dict[str, Any],
        spec: dict[str, Any],
        namespace: str,
        params: InjectionParams,
    ) -> UserPod:
        """The pod as its author wrote it (an earlier injection stripped, recorded overrides
        of injected containers put back) and the settings derived from it."""
        metadata, spec, previous = reinjection.strip(metadata, spec, self.metrics_port)
        spec = overrides.reinsert(spec, overrides.recorded(metadata.get("annotations") or {}))
        spec = overrides.drop_scc_user(spec, params.namespace_annotations)
        workload = params.workload or identity.from_pod(metadata, namespace)
        namespaced = {**metadata, "namespace": namespace}
        settings = context.settings(
            {"metadata": namespaced}, self.config, workload, params.namespace_annotations
        )
        return UserPod(metadata, namespaced, spec, previous, settings)

    def _templates(self, annotations: Mapping[str, str]) -> list[str]:
        requested = ann.split_list(annotations.get(TEMPLATES_ANNOTATION, ""))
        names: list[str] = []
        for name in requested or list(self.config.default_templates):
            names.extend(self.config.aliases.get(name, (name,)))
        unknown = [n for n in names if n not in self.config.templates]
        if unknown:
            have = ", ".join(sorted(self.config.templates))
            raise InjectionError(
                f"annotation {TEMPLATES_ANNOTATION}: unknown template(s) {', '.join(unknown)} "
                f"(have: {have})"
            )
        return names

    def _render(self, names: list[str], user: UserPod) -> list[dict[str, Any]]:
        """The templates' partial pods for ``user``, through the render cache."""
        stripped = {"metadata": user.namespaced, "spec": user.spec}
        ctx = context.build(stripped, self.config, user.settings)

        def produce(trace: render_cache.Trace) -> list[dict[str, Any]]:
            variables = ctx.variables(trace)
            return [template.render(n, self.config.templates[n], variables) for n in names]

        derived = ctx.key()
        if derived is None:
            return produce(render_cache.Trace())
        base = orjson.dumps([self.config.content_hash, names]) + derived
        partials: list[dict[str, Any]] = self.cache.get_or_render(base, ctx.pod, produce)
        return partials


@dataclass(frozen=True)
class UserPod:
    """The pod as its author wrote it, ready to inject: ``metadata`` and ``spec`` with an
    earlier injection stripped (``previous`` says what it had) and recorded overrides back;
    ``namespaced`` is ``metadata`` with the namespace filled in, as templates see it."""

    metadata: dict[str, Any]
    namespaced: dict[str, Any]
    spec: dict[str, Any]
    previous: reinjection.Previous
    settings: context.Settings


def _proxy_env(url_env: Mapping[str, str], metadata: Mapping[str, Any]) -> Mapping[str, str]:
    """The env set on ``istio-proxy`` after rendering: the URL's, with the pod's network label
    as ``ISTIO_META_NETWORK`` over the URL's and the values' network (Istio's precedence)."""
    network = (metadata.get("labels") or {}).get(NETWORK_LABEL)
    if not network or not isinstance(network, str):
        return url_env
    return {**url_env, "ISTIO_META_NETWORK": network}


def _injected_spec(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """What the templates inject, on their own: the partials merged onto nothing. It names
    the injected containers and volumes (the status annotation, user overrides)."""
    alone: dict[str, Any] = {}
    for partial in partials:
        alone = merge.merge(alone, partial)
    spec: dict[str, Any] = alone.get("spec") or {}
    return spec


def _merge_partials(
    pod: Mapping[str, Any],
    user: UserPod,
    partials: list[dict[str, Any]],
    injected: Mapping[str, Any],
) -> dict[str, Any]:
    """The partials merged onto the user's pod one after another, as Istio applies them
    (each one a strategic merge onto the result of the last). A user's own ``istio-proxy``
    first moves to the list the templates inject it into (an init container for native
    sidecars), so that it merges with ours instead of doubling it."""
    placed = overrides.place_like(user.spec, injected)
    merged: dict[str, Any] = {**pod, "metadata": user.metadata, "spec": placed}
    for partial in partials:
        merged = merge.merge(merged, partial)
    merged["spec"] = merged.get("spec") or {}
    return merged


def _honour_user_overrides(
    spec: dict[str, Any], user: UserPod, injected: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The user's definitions of injected containers merged over ours (and recorded, so a
    reinjection can put them back), and a user ``runAsUser`` carried to the init container."""
    spec, record = overrides.reapply(spec, user.spec, injected)
    tproxy = user.settings.interception_mode == "TPROXY"
    spec = overrides.adjust_init_user(spec, overrides.user_proxy(user.spec), tproxy)
    return spec, record


def without_managed_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata minus ``managedFields``: injection neither reads nor patches them, and they
    differ between otherwise identical pods (timestamps)."""
    return {k: v for k, v in metadata.items() if k != "managedFields"}


def inject(pod: Any, config: InjectorConfig, params: InjectionParams | None = None) -> Outcome:
    """One-off injection without a render cache (tests, scripts)."""
    return Injector(config, cache_bytes=0).inject(pod, params)


def _check_unique_names(spec: Mapping[str, Any], templates: list[str]) -> None:
    """Templates that inject one container both as an init container and as a container
    (``sidecar,grpc-agent`` with native sidecars) make a pod the API server rejects."""
    init = {c.get("name") for c in spec.get("initContainers") or [] if isinstance(c, Mapping)}
    both = sorted(
        str(c.get("name"))
        for c in spec.get("containers") or []
        if isinstance(c, Mapping) and c.get("name") in init
    )
    if both:
        raise InjectionError(
            f"templates {','.join(templates)} inject {', '.join(both)} both as an init "
            "container and as a container; use one of them, or turn native sidecars off "
            '(sidecar.istio.io/nativeSidecar: "false") to merge them'
        )
