"""``injector serve`` plus one route, ``POST /floor``, for the webhook benchmark.

The floor is what the webhook can never beat: the same app, uvicorn, TLS and keep-alive
connections, reading the whole body and answering a fixed AdmissionReview without parsing
it. The route is added here, outside the product, so the production server has no
benchmark switch. Arguments are ``injector serve``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from injector import logs
from injector.webhook import server

FIXED = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}'  # noqa: E501


async def floor(request: Request) -> Response:
    await request.body()
    return Response(FIXED, media_type="application/json")


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
    served.source.start()
    server.tune_gc()
    try:
        served.server.run()
    finally:
        served.source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
