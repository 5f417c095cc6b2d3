"""AdmissionReview in, AdmissionReview out: the webhook's pure request -> response step.

No I/O, no framework: ``review`` takes the decoded JSON body and an ``Injector`` and returns
a ``Reply`` (HTTP status, response bytes, log fields). The three outcomes:

- skip   -> ``allowed: true``, no patch, a ``warnings`` entry giving the reason;
- inject -> ``allowed: true``, ``patchType: JSONPatch``, base64 ``patch`` (only when there
  are ops);
- deny   -> ``allowed: false``, ``status: {code, message}`` (an ``InjectionError``, or a
  generic message for an unexpected exception, which ``Reply.error`` carries for the log).

A body that is not an AdmissionReview is a transport error: HTTP 400 with ``{"error": ...}``
(the apiserver then applies the webhook's ``failurePolicy``). The response always has the
request's ``apiVersion`` and ``kind`` and echoes ``request.uid``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from injector import jsonshape
from injector.core import Injected, InjectionParams, Injector, NamespaceAnnotations
from injector.errors import InjectionError

API_VERSIONS = frozenset({"admission.k8s.io/v1", "admission.k8s.io/v1beta1"})
MAX_WARNING = 120  # the apiserver truncates longer ones; kubectl shows them one per line
INTERNAL_ERROR = "internal error in the sidecar injector; see its logs"
# URL path keys with a meaning of their own (Istio ``URLParameterToEnv``)
PATH_KEYS = {"cluster": "ISTIO_META_CLUSTER_ID", "net": "ISTIO_META_NETWORK"}

# How the webhook disposed of one request (``invalid``: not an AdmissionReview, HTTP 400).
# The core's ``policy.Decision`` (inject or skip, and why) and ``core.Outcome`` (``Injected``
# or ``Skipped``) lead to the first two; an ``InjectionError`` to ``denied``.
Disposition = Literal["injected", "skipped", "denied", "invalid"]


class Status(TypedDict):
    code: int
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]


class AdmissionReviewResponse(TypedDict):
    apiVersion: str
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse


class AdmissionRequest(TypedDict, total=False):
    uid: str
    namespace: str
    name: str
    operation: str
    dryRun: bool
    object: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """An admission answer without its uid."""

    response: dict[str, Any]  # AdmissionResponse fields other than "uid"
    disposition: Literal["injected", "skipped", "denied"]
    reason: str
    patch_ops: int


@dataclass(frozen=True)
class Reply:
    """What the HTTP layer sends and logs."""

    status: int  # HTTP status: 200 for every AdmissionReview answer, 400 for bad input
    body: bytes
    disposition: Disposition
    reason: str
    fields: dict[str, Any] = field(default_factory=dict)  # for the one log line
    error: BaseException | None = None  # an unexpected exception (log it with its traceback)


@dataclass(frozen=True)
class PathParams:
    """Env overrides for istio-proxy from ``/inject/<k>/<v>/...`` (Istio ``parseInjectEnvs``)."""

    env: Mapping[str, str]
    warnings: tuple[str, ...] = ()


class BadReview(ValueError):
    """The body is not an AdmissionReview we can answer."""


def review(
    body: Any,
    injector: Injector,
    params: PathParams | None = None,
    namespaces: NamespaceAnnotations | None = None,
) -> Reply:
    """Answer one decoded AdmissionReview (never raises). ``namespaces`` gives the
    annotations of the pod's namespace that injection reads (OpenShift UID ranges)."""
    try:
        api_version, request = _read_review(body)
    except BadReview as exc:
        return bad_request(str(exc))
    pod = request["object"]
    fields = _log_fields(request, pod)
    if not jsonshape.serialisable(pod):
        reason = jsonshape.problem(pod, "object") or "object: not serialisable as JSON"
        response = cast(AdmissionResponse, {"uid": request["uid"], **deny(400, reason)})
        return _reply(api_version, response, "denied", reason, fields)
    env = params.env if params is not None else {}
    namespace = request.get("namespace")
    pod_namespace = fields["namespace"]
    found = None
    if namespaces is not None and isinstance(pod_namespace, str):
        found = namespaces(pod_namespace)
    inject_params = InjectionParams(namespace=namespace, proxy_env=env, namespace_annotations=found)
    answer, error = _answer(pod, inject_params, injector)
    if answer.disposition == "injected":
        fields["patch_ops"] = answer.patch_ops
    response = cast(AdmissionResponse, {"uid": request["uid"], **answer.response})
    return _reply(api_version, response, answer.disposition, answer.reason, fields, error)


def _answer(
    pod: Any, params: InjectionParams, injector: Injector
) -> tuple[Answer, BaseException | None]:
    try:
        outcome = injector.inject(pod, params)
    except InjectionError as exc:
        return Answer(deny(exc.code, str(exc)), "denied", str(exc), 0), None
    except Exception as exc:  # a bug: deny with a generic message, never a 500
        return Answer(deny(500, INTERNAL_ERROR), "denied", f"unexpected error: {exc!r}", 0), exc
    if isinstance(outcome, Injected):
        response = allow(outcome.patch, outcome.warnings)
        return Answer(response, "injected", outcome.reason, len(outcome.patch)), None
    warnings = (f"sidecar not injected: {outcome.reason}", *outcome.warnings)
    return Answer(allow([], warnings), "skipped", outcome.reason, 0), None


def allow(ops: list[dict[str, Any]], warnings: tuple[str, ...] = ()) -> dict[str, Any]:
    """An admitting response, without its ``uid`` (``review`` adds the request's)."""
    response: dict[str, Any] = {"allowed": True}
    if ops:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(ops)).decode("ascii")
    if warnings:
        response["warnings"] = [_short(w) for w in warnings]
    return response


def deny(code: int, message: str) -> dict[str, Any]:
    """A denying response, without its ``uid``."""
    return {"allowed": False, "status": {"code": code, "message": message}}


def bad_request(message: str, status: int = 400) -> Reply:
    """A transport-level error: HTTP ``status`` with ``{"error": message}``."""
    return Reply(status, error_body(message), "invalid", message)


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def parse_path(path: str) -> PathParams:
    """``/inject/cluster/c1/net/n1`` -> env; also the legacy ``/inject/:ENV:k=v:ENV:...``."""
    parts = path.rstrip("/").split("/", 2)
    if len(parts) < 3:
        return PathParams({})
    rest = parts[2]
    items: list[str] = []
    if rest.startswith(":ENV:"):
        for pair in rest.split(":ENV:")[1:]:
            key, sep, value = pair.partition("=")
            if key and sep:
                items += [key, value]
    else:
        items = rest.split("/")
        items = [v.replace("--slash--", "/") if i % 2 else v for i, v in enumerate(items)]
    warnings: tuple[str, ...] = ()
    if len(items) % 2:
        warnings = (f"odd number of inject path entries: ignoring the last key {items[-1]!r}",)
        items = items[:-1]
    env: dict[str, str] = {}
    for key, value in zip(items[::2], items[1::2], strict=True):
        if value:
            env[PATH_KEYS.get(key, key.upper())] = value
    return PathParams(env, warnings)


def _read_review(body: Any) -> tuple[str, AdmissionRequest]:
    if not isinstance(body, dict):
        raise BadReview("not an AdmissionReview: expected a JSON object")
    if body.get("kind") != "AdmissionReview":
        raise BadReview(f"not an AdmissionReview: kind is {body.get('kind')!r}")
    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or api_version not in API_VERSIONS:
        raise BadReview(
            f"unsupported AdmissionReview apiVersion {api_version!r} "
            "(want admission.k8s.io/v1 or v1beta1)"
        )
    request = body.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("AdmissionReview request has no uid")
    if request.get("object") is None:
        raise BadReview("AdmissionReview request has no object")
    for key in ("namespace", "name", "operation"):
        if not isinstance(request.get(key) or "", str):
            raise BadReview(f"AdmissionReview request.{key} must be a string")
    return str(api_version), request  # type: ignore[return-value]


def _log_fields(request: AdmissionRequest, pod: Any) -> dict[str, Any]:
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name") or request.get("name") or ""
    if not name and metadata.get("generateName"):
        name = f"{metadata['generateName']}*"
    return {
        "namespace": metadata.get("namespace") or request.get("namespace") or "",
        "pod": name,
        "uid": request["uid"],
        "operation": request.get("operation") or "",
        "dry_run": bool(request.get("dryRun")),
    }


def _reply(
    api_version: str,
    response: AdmissionResponse,
    disposition: Disposition,
    reason: str,
    fields: dict[str, Any],
    error: BaseException | None = None,
) -> Reply:
    document: AdmissionReviewResponse = {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": response,
    }
    fields["decision"] = disposition  # the log field's documented name
    fields["reason"] = reason
    return Reply(200, orjson.dumps(document), disposition, reason, fields, error)


def _short(text: str) -> str:
    return text if len(text) <= MAX_WARNING else text[: MAX_WARNING - 3] + "..."
