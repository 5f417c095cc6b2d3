"""``injector serve`` plus two yardsticks for the webhook benchmark, ``POST /floor`` and
``POST /ceiling``.

The floor is what the webhook can never beat: the same app, uvicorn, TLS and keep-alive
connections, reading the whole body and answering a fixed AdmissionReview without parsing
it. The ceiling is the real webhook app whose injector answers from a table: the first
answer for each pod shape is computed, then returned as is. It is the most any cache inside
the core could give; decoding, validating and answering the review is all that is left.
Both are added here, outside the product, so the production server has no benchmark switch.
Arguments are ``injector serve``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from injector import logs
from injector.config import InjectorConfig
from injector.core import InjectionParams, Injector, Outcome
from injector.webhook import server
from injector.webhook.app import create_app
from injector.webhook.reload import ConfigState

FIXED = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}'  # noqa: E501


async def floor(request: Request) -> Response:
    await request.body()
    return Response(FIXED, media_type="application/json")


class Precomputed(Injector):
    """An injector that computes one answer per pod shape (its container names) and then
    gives that answer to every pod of the shape."""

    def __init__(self, config: InjectorConfig) -> None:
        super().__init__(config)
        self.answers: dict[tuple[str, ...], Outcome] = {}

    def inject(self, pod: Any, params: InjectionParams | None = None) -> Outcome:
        shape = tuple(str(c.get("name")) for c in pod["spec"]["containers"])
        if shape not in self.answers:
            self.answers[shape] = super().inject(pod, params)
        return self.answers[shape]


def ceiling(config: InjectorConfig) -> Callable[[Request], Awaitable[Response]]:
    """The webhook app's ``/inject`` handler, injecting with ``Precomputed``."""
    live = ConfigState(config)
    live.injector = Precomputed(config)
    app = create_app(live)
    routes = [r for r in app.router.routes if isinstance(r, Route) and r.path == "/inject"]
    handler: Callable[[Request], Awaitable[Response]] = routes[0].endpoint
    return handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="serve_with_floor")
    server.add_arguments(parser)
    parser.set_defaults(log_level="warning")
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    served = server.prepare(args)
    app = served.server.config.app
    assert isinstance(app, FastAPI)  # what server.prepare hands uvicorn
    app.router.add_route("/floor", floor, methods=["POST"])
    app.router.add_route("/ceiling", ceiling(app.state.webhook.config.config), methods=["POST"])
    served.source.start()
    server.tune_gc()
    try:
        served.server.run()
    finally:
        served.source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
