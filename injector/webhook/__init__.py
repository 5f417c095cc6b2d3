"""The webhook wing: the HTTP edge of ``injector serve`` around the pure injection core.

``server`` runs ``app`` (FastAPI) on uvicorn over TLS (``tls``, ``httplimits``); ``admission``
turns an AdmissionReview into a response through the core, remembering answers per ReplicaSet
(``memo``); ``reload`` keeps the live config, proving each new one on canary pods (``canary``)
before serving it; ``metrics`` exports both to Prometheus. The wing imports the core; the core
never imports the wing, and the ``[webhook]`` extra's packages (FastAPI, uvicorn,
prometheus-client, kubernetes) are imported only here, a layering that
``tests/test_layering.py`` checks.
"""
