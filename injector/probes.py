"""Application probe rewriting (Istio ``app_probe.go``).

With mTLS the kubelet cannot reach the app's probe ports through the sidecar, so HTTP, TCP
and gRPC probes (and httpGet/tcpSocket lifecycle hooks) of app containers are pointed at the
agent's status port under ``/app-health/<container>/<kind>`` and
``/app-lifecycle/<container>/<hook>``; the originals (named ports resolved) go into
``ISTIO_KUBE_APP_PROBERS`` on the proxy, for the agent to run. ``exec`` probes are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
PROBES = (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz"))
HOOKS = (("preStop", "prestopz"), ("postStart", "poststartz"))
INJECTED = frozenset({"istio-proxy", "istio-init", "istio-validation"})


def rewrite(
    containers: list[Any], status_port: int, probers: dict[str, Any], warnings: list[str]
) -> list[Any]:
    """Rewritten copies of the app containers that have probes; records originals in ``probers``."""
    result = []
    for container in containers:
        if not isinstance(container, dict) or container.get("name") in INJECTED:
            result.append(container)
            continue
        result.append(_rewrite_container(container, status_port, probers, warnings))
    return result


def _rewrite_container(
    container: Mapping[str, Any], status_port: int, probers: dict[str, Any], warnings: list[str]
) -> Mapping[str, Any]:
    name = str(container.get("name"))
    changed: dict[str, Any] = {}
    for field, suffix in PROBES:
        probe = container.get(field)
        if isinstance(probe, dict):
            new = _rewrite_handler(
                probe,
                container,
                status_port,
                f"/app-health/{name}/{suffix}",
                probers,
                warnings,
                True,
            )
            if new is not None:
                changed[field] = new
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        hooks = dict(lifecycle)
        for hook, suffix in HOOKS:
            handler = lifecycle.get(hook)
            if isinstance(handler, dict):
                path = f"/app-lifecycle/{name}/{suffix}"
                new = _rewrite_handler(
                    handler, container, status_port, path, probers, warnings, False
                )
                if new is not None:
                    hooks[hook] = new
        if hooks != lifecycle:
            changed["lifecycle"] = hooks
    if not changed:
        return container
    return {**container, **changed}


def _rewrite_handler(
    handler: Mapping[str, Any],
    container: Mapping[str, Any],
    status_port: int,
    path: str,
    probers: dict[str, Any],
    warnings: list[str],
    is_probe: bool,
) -> dict[str, Any] | None:
    kind = next(
        (k for k in ("httpGet", "tcpSocket", "grpc") if isinstance(handler.get(k), Mapping)), None
    )
    if kind is None or (kind == "grpc" and not is_probe):
        return None
    action = dict(handler[kind])
    port = _resolve(action.get("port"), container)
    if port is None:
        warnings.append(
            f"container {container.get('name')}: {path} uses unknown port "
            f"{action.get('port')!r}; not rewritten"
        )
        return None
    if port == status_port:
        return None  # already served by the agent (e.g. re-injection)
    action["port"] = port
    original: dict[str, Any] = {kind: action}
    if is_probe and handler.get("timeoutSeconds"):
        original["timeoutSeconds"] = handler["timeoutSeconds"]
    probers[path] = original
    new = {k: v for k, v in handler.items() if k not in ("httpGet", "tcpSocket", "grpc")}
    http: dict[str, Any] = {"path": path, "port": status_port}
    if kind == "httpGet":
        http = {**handler["httpGet"], "path": path, "port": status_port}
        if http.get("scheme") == "HTTPS":
            http["scheme"] = "HTTP"  # kubelet -> HTTP -> agent -> HTTPS -> app
    new["httpGet"] = http
    return new


def _resolve(port: Any, container: Mapping[str, Any]) -> int | None:
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str):
        if port.isascii() and port.isdigit():
            return int(port)
        for declared in container.get("ports") or []:
            if isinstance(declared, dict) and declared.get("name") == port:
                number = declared.get("containerPort")
                return number if isinstance(number, int) else None
    if port is None and "grpc" in container:
        return None
    return None


def encode(probers: Mapping[str, Any]) -> str:
    return orjson.dumps(probers, option=orjson.OPT_SORT_KEYS).decode()


def previous(proxy: Mapping[str, Any] | None) -> dict[str, Any]:
    """Probers recorded by an earlier injection (kept on re-injection: existing keys win)."""
    if proxy is None:
        return {}
    for env in proxy.get("env") or []:
        if isinstance(env, dict) and env.get("name") == PROBERS_ENV:
            try:
                loaded = orjson.loads(str(env.get("value") or "{}"))
            except orjson.JSONDecodeError:
                return {}
            return loaded if isinstance(loaded, dict) else {}
    return {}
