"""``injector serve``: the webhook app on uvicorn, HTTPS only, one worker.

- TLS from a ``tls.TLSSource`` (cert files, hot-reloaded, or self-managed certs);
  TLS >= 1.2; keep-alive 75 s (apiserver connections are reused).
- ``TCP_NODELAY`` on every accepted socket (uvloop and asyncio set it on TCP transports; a
  test guards it): without it back-to-back keep-alive admissions stall ~40 ms each (Nagle vs
  delayed ACK, real-apiserver-notes).
- Limits per client (``httplimits``): header bytes and count, a read timeout for
  each request, a connection cap.
- SIGTERM: keep accepting and answering for ``--drain-seconds`` while ``/readyz`` says 503
  (so endpoints drop us) and responses carry ``Connection: close``; then stop listening and
  give in-flight requests ``--shutdown-timeout`` seconds. A second SIGTERM/SIGINT stops now.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from certs import defaults as cert_defaults
from injector.namespaces import NamespaceWatchError
from injector.webhook import httplimits, tls
from injector.webhook.app import WebhookState, create_app
from injector.webhook.namespaces import NamespaceApi, NamespaceCache
from injector.webhook.reload import ConfigFiles, ConfigReloader, load_state

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 75  # Istio: IdleTimeout 90 s; the apiserver reuses connections

N = TypeVar("N", int, float)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    add("--port", type=int, default=15017, help="HTTPS port (default 15017)")
    add(
        "--config-dir",
        type=Path,
        help="mounted ConfigMap dir: optional config, values, mesh, <name>.yaml.j2",
    )
    add(
        "--reload-interval",
        type=float,
        default=2.0,
        help="seconds between config/cert file checks (default 2)",
    )
    add("--tls-cert-file", type=Path, help="serving certificate chain (PEM)")
    add("--tls-key-file", type=Path, help="serving key (PEM)")
    add(
        "--self-managed-certs",
        action="store_true",
        help="mint and rotate certs, patch the caBundle",
    )
    add(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", ""),
        help="our namespace ($POD_NAMESPACE)",
    )
    add(
        "--service-name",
        default=cert_defaults.SERVICE_NAME,
        help="our Service, named in the self-managed certificate (default sidecar-injector)",
    )
    add(
        "--secret-name",
        default=cert_defaults.SECRET_NAME,
        help="Secret holding the self-managed CA (default sidecar-injector-ca)",
    )
    add(
        "--webhook-config-name",
        default=cert_defaults.WEBHOOK_CONFIG_NAME,
        help="MutatingWebhookConfiguration whose caBundle we keep (default sidecar-injector)",
    )
    add(
        "--cluster-domain",
        default=cert_defaults.CLUSTER_DOMAIN,
        help="for the certificate's <svc>.<ns>.svc.<domain> name (default cluster.local)",
    )
    add(
        "--extra-dns-name",
        action="append",
        default=[],
        metavar="NAME",
        help="also name NAME in the self-managed serving certificate (repeatable)",
    )
    add(
        "--extra-ip",
        action="append",
        default=[],
        type=_ip_address,
        metavar="IP",
        help="also name IP in the self-managed serving certificate (repeatable)",
    )
    add(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="after SIGTERM keep answering this long (default 10)",
    )
    add(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="then wait this long for in-flight requests (default 10)",
    )
    add(
        "--max-connections",
        type=positive(int),
        default=httplimits.Limits.max_connections,
        help="open connections beyond this are closed at once (default 1000)",
    )
    add(
        "--read-timeout",
        type=positive(float),
        default=httplimits.Limits.read_timeout,
        help="seconds a client has to send a whole request (default 10)",
    )
    # No default here: it would overwrite `injector --log-level X serve`; cli.main applies
    # serve's default (info) when neither position gave one.
    add(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="(default info)",
    )
    add("--log-format", default="text", choices=["text", "json"], help="(default text)")
    add(
        "--namespace-watch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="watch Namespaces for OpenShift's UID ranges (openshift.io/sa.scc.*) and run the "
        "proxy as the namespace's UID (default: on in a cluster, off outside)",
    )
    native = parser.add_mutually_exclusive_group()
    native.add_argument(
        "--native-sidecars",
        dest="native",
        action="store_true",
        default=None,
        help="istio-proxy as a native sidecar (default: the config's nativeSidecars, on)",
    )
    native.add_argument(
        "--no-native-sidecars",
        dest="native",
        action="store_false",
        help="istio-proxy as a regular container",
    )


def positive(kind: type[N]) -> Callable[[str], N]:
    """An argparse ``type`` accepting only numbers above zero."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean shutdown."""
    served = prepare(args)
    served.source.start()
    if served.namespaces is not None:
        served.namespaces.start()
    tune_gc()
    try:
        served.server.run()
    finally:
        if served.namespaces is not None:
            served.namespaces.stop()
        served.source.stop()
    return 0 if served.server.started else 1


def tune_gc() -> None:
    """Fewer, cheaper cyclic-GC passes for a request-driven server.

    Each admission allocates thousands of short-lived, acyclic JSON objects that reference
    counting frees; with the default gen-0 threshold (700) they trigger frequent collections
    that also rescan everything loaded at start-up. Freezing the start-up heap and raising the
    threshold cut mean injection time ~10% and worst-case pauses ~3x (measured, 25 KiB pods).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@dataclass
class Served:
    server: DrainingServer
    source: tls.TLSSource
    namespaces: NamespaceCache | None = None


def prepare(args: argparse.Namespace) -> Served:
    """Load the config (``ConfigError`` stops us here) and build app, TLS source and server."""
    files = ConfigFiles(args.config_dir, args.native)
    live = load_state(files)
    reloader = ConfigReloader(files, live, args.reload_interval) if args.config_dir else None
    source = tls_source(args)
    namespaces = namespace_cache(args)
    app = create_app(live, reloader=reloader, tls_ready=source.ready, namespaces=namespaces)
    state: WebhookState = app.state.webhook
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        ssl_context_factory=lambda _config, _default: source.ssl_context(),
        http=httplimits.protocol(
            httplimits.Limits(max_connections=args.max_connections, read_timeout=args.read_timeout)
        ),
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=args.shutdown_timeout,
    )
    server = DrainingServer(
        config, args.drain_seconds, on_drain=lambda: setattr(state, "draining", True)
    )
    return Served(server, source, namespaces)


def namespace_cache(args: argparse.Namespace) -> NamespaceCache | None:
    """The Namespace watch, if ``--namespace-watch`` (default: in a cluster, where the
    shipped ClusterRole allows it). Credentials as for ``--self-managed-certs``."""
    enabled = args.namespace_watch
    if enabled is None:
        enabled = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if not enabled:
        return None
    from certs.errors import CertError
    from certs.kube import make_api_client  # kubernetes: only when watching

    try:
        client = make_api_client()
    except CertError as exc:
        raise NamespaceWatchError(f"--namespace-watch: {exc}") from None
    return NamespaceCache(NamespaceApi(client))


def tls_source(args: argparse.Namespace) -> tls.TLSSource:
    if args.self_managed_certs:
        if args.tls_cert_file or args.tls_key_file:
            raise tls.TLSError(
                "--self-managed-certs and --tls-cert-file/--tls-key-file exclude each other"
            )
        if not args.namespace:
            raise tls.TLSError("--self-managed-certs needs --namespace (or $POD_NAMESPACE)")
        return tls.ManagedSource(
            namespace=args.namespace,
            service_name=args.service_name,
            secret_name=args.secret_name,
            webhook_config_name=args.webhook_config_name,
            cluster_domain=args.cluster_domain,
            extra_dns_names=tuple(args.extra_dns_name),
            extra_ips=tuple(args.extra_ip),
        )
    if args.extra_dns_name or args.extra_ip:
        raise tls.TLSError("--extra-dns-name/--extra-ip need --self-managed-certs")
    if not (args.tls_cert_file and args.tls_key_file):
        raise tls.TLSError(
            "HTTPS only: give --tls-cert-file and --tls-key-file, or --self-managed-certs"
        )
    return tls.FileSource(args.tls_cert_file, args.tls_key_file, args.reload_interval)


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose first SIGTERM starts a drain period instead of exiting."""

    def __init__(
        self, config: uvicorn.Config, drain_seconds: float, on_drain: Callable[[], Any]
    ) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.on_drain = on_drain
        self.drain_deadline: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it at exit (status -15).
        if self.drain_deadline is None and sig == signal.SIGTERM and self.drain_seconds > 0:
            self.drain_deadline = time.monotonic() + self.drain_seconds
            self.on_drain()
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None:
            if not self._drain_logged:
                self._drain_logged = True
                logger.info(
                    "SIGTERM: draining for %.1f s (readyz 503), then shutting down",
                    self.drain_seconds,
                )
            if time.monotonic() >= self.drain_deadline:
                self.should_exit = True
        return await super().on_tick(counter)


def listening_port(server: uvicorn.Server) -> int:
    """The bound port (tests bind port 0)."""
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("server is not listening")
