"""The webhook wing: the HTTP edge of ``injector serve`` around the pure injection core.

``server`` runs ``app`` (FastAPI) on uvicorn over TLS (``tls``, ``httplimits``); ``admission``
turns an AdmissionReview into a response through the core; ``reload`` keeps the live config,
proving each new one on canary pods (``canary``) before serving it; ``metrics`` exports both
to Prometheus.

The wing imports the core; the core never imports the wing (only the CLI's ``serve`` command
does, when it runs). The packages that only the ``[webhook]`` extra installs are imported here
and in ``certs`` (and the kubernetes client by ``check --kubeconfig``, when it runs), so
``pip install sidecar-injector`` alone runs ``injector inject``. ``tests/test_layering.py``
checks both.
"""
