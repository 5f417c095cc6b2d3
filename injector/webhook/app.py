"""The HTTP layer of the webhook: ``create_app(config) -> FastAPI``.

Thin on purpose: the hot path reads the raw body (at most 6 MiB, checked while reading),
checks the Content-Type, decodes with orjson and hands the object to ``admission.review``.
No Pydantic, no threadpool hop (injection is CPU-only and sub-millisecond), no I/O.
Routes are plain Starlette routes, so FastAPI's dependency machinery stays off the path.

Endpoints: ``POST /inject`` and ``POST /inject/<k>/<v>/...``, ``GET /healthz`` (alive),
``GET /readyz`` (config loaded, cert valid, namespaces listed, not draining; JSON
details), ``GET /metrics``.
Every error response is JSON (``{"error": ...}``), never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from injector.config import InjectorConfig
from injector.webhook import admission
from injector.webhook.admission import PathParams, Reply
from injector.webhook.metrics import CONTENT_TYPE, Metrics
from injector.webhook.namespaces import NamespaceCache
from injector.webhook.reload import ConfigReloader, ConfigState

logger = logging.getLogger(__name__)

MAX_BODY = 6 * 1024 * 1024  # Istio's MaxRequestBodyBytes
JSON = "application/json"
ReadyCheck = Callable[[], tuple[bool, str]]

_CLOSE = {"connection": "close"}


@dataclass
class WebhookState:
    """Shared by the handlers; ``server`` flips ``draining`` on SIGTERM."""

    config: ConfigState
    metrics: Metrics
    tls_ready: ReadyCheck | None = None
    reloader: ConfigReloader | None = None
    namespaces: NamespaceCache | None = None
    draining: bool = False
    paths: dict[str, PathParams] = field(default_factory=dict)

    def path_params(self, path: str) -> PathParams:
        params = self.paths.get(path)
        if params is None:
            params = admission.parse_path(path)
            for warning in params.warnings:
                logger.warning("inject path %s: %s", path, warning)
            if len(self.paths) < 1024:  # paths come from webhook configs: a handful
                self.paths[path] = params
        return params


def create_app(
    config: InjectorConfig | ConfigState,
    *,
    reloader: ConfigReloader | None = None,
    tls_ready: ReadyCheck | None = None,
    namespaces: NamespaceCache | None = None,
) -> FastAPI:
    """The webhook app, serving the current config of ``config``; ``namespaces`` supplies
    the namespace annotations injection reads (OpenShift UID ranges)."""
    live = config if isinstance(config, ConfigState) else ConfigState(config)
    state = WebhookState(live, Metrics(live), tls_ready, reloader, namespaces)
    app = FastAPI(
        title="sidecar-injector",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    app.state.webhook = state

    async def inject(request: Request) -> Response:
        state.metrics.requests.inc()
        start = time.perf_counter()
        reply = await _answer(request, state)
        elapsed = time.perf_counter() - start
        state.metrics.observe(reply.disposition, elapsed)
        _log(reply, elapsed)
        if state.draining:  # move the apiserver's keep-alive connections to other replicas
            return Response(reply.body, reply.status, _CLOSE, media_type=JSON)
        return Response(reply.body, status_code=reply.status, media_type=JSON)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def readyz(request: Request) -> Response:
        ready, body = _readiness(state)
        return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type=JSON)

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    app.router.add_route("/inject", inject, methods=["POST"], include_in_schema=False)
    app.router.add_route("/inject/{rest:path}", inject, methods=["POST"], include_in_schema=False)
    app.router.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.router.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.router.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: WebhookState = app.state.webhook
    if state.reloader is None:
        yield
        return
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(state.reloader.run)
        yield
        tasks.cancel_scope.cancel()


class _BodyError(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


async def _answer(request: Request, state: WebhookState) -> Reply:
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != JSON:
        return admission.bad_request(
            f"unsupported Content-Type {content_type!r}, expect {JSON}", status=415
        )
    try:
        body = await _read_body(request)
    except _BodyError as exc:
        return exc.reply
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return admission.bad_request(f"body is not valid JSON: {exc}")
    if logger.isEnabledFor(logging.DEBUG):  # the pod body only ever at DEBUG
        logger.debug("admission request %s", body.decode("utf-8", "replace"))
    params = state.path_params(request.scope["path"])
    lookup = state.namespaces.annotations if state.namespaces is not None else None
    return admission.review(document, state.config.injector, params, lookup)


async def _read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            raise _BodyError(admission.bad_request("invalid Content-Length"))
        if int(length) > limit:
            raise _BodyError(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _BodyError(_too_large(limit))
            chunks.append(chunk)
    except ClientDisconnect:
        raise _BodyError(admission.bad_request("client disconnected")) from None
    if size == 0:
        raise _BodyError(admission.bad_request("no body found"))
    return b"".join(chunks)


def _too_large(limit: int) -> Reply:
    return admission.bad_request(f"request body too large: the limit is {limit} bytes", status=413)


def _readiness(state: WebhookState) -> tuple[bool, dict[str, Any]]:
    reasons: list[str] = []
    if state.draining:
        reasons.append("draining: shutting down")
    tls: dict[str, Any] = {"ready": True, "reason": "not checked"}
    if state.tls_ready is not None:
        ok, why = state.tls_ready()
        tls = {"ready": ok, "reason": why}
        if not ok:
            reasons.append(f"tls: {why}")
    namespaces: dict[str, Any] = {"ready": True, "reason": "not watched"}
    if state.namespaces is not None:
        ok, why = state.namespaces.ready()
        namespaces = {"ready": ok, "reason": why}
        if not ok:  # until listed, pods of OpenShift namespaces would get the wrong UID
            reasons.append(f"namespaces: {why}")
    warnings = []
    if state.config.last_error is not None:  # still serving the previous, proven config
        warnings.append(f"config reload rejected: {state.config.last_error}")
    body = {
        "ready": not reasons,
        "reasons": reasons,
        "warnings": warnings,
        "draining": state.draining,
        "config": state.config.describe(),
        "tls": tls,
        "namespaces": namespaces,
    }
    return not reasons, body


def _log(reply: Reply, elapsed: float) -> None:
    if reply.error is not None:
        logger.error(
            "admission failed unexpectedly",
            exc_info=reply.error,
            extra={**reply.fields, "duration_ms": round(elapsed * 1000, 3)},
        )
    elif reply.disposition == "invalid":
        logger.warning(
            "rejected request: %s",
            reply.reason,
            extra={"status": reply.status, "duration_ms": round(elapsed * 1000, 3)},
        )
    elif logger.isEnabledFor(logging.INFO):
        logger.info(
            "admission %s",
            reply.disposition,
            extra={**reply.fields, "duration_ms": round(elapsed * 1000, 3)},
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = admission.error_body(str(exc.detail))
    return Response(body, status_code=exc.status_code, media_type=JSON, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s", request.url.path, exc_info=exc)
    return Response(admission.error_body("internal error"), status_code=500, media_type=JSON)
