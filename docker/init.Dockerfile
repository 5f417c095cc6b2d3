# The init image: `sidecar-init`, the istio-iptables compatible program run by the injected
# istio-init container (args `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT ...`; the
# leading `istio-iptables` word is accepted). Build it with `make images` (which first builds
# the wheelhouse on the host), or by hand from the repository root after `make wheels`:
#   podman build -f docker/init.Dockerfile -t ghcr.io/sidecar-injector/sidecar-init:0.1.0 .
# The base is a build argument: the default is pinned by exact tag (Python 3.11 patch release,
# Debian 12); pass a mirror's copy, a digest, or a local Debian 12 image with python3 and
# python3-venv (the tests use one made with mmdebstrap).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Installed from the wheelhouse only (`make wheels`: python-iptables' small C extension is
# compiled there, so no stage here needs a compiler). Only the `init` extra's requirements,
# read from the project wheel's own metadata: not the injector's (Jinja2, ruamel, orjson,
# yaml-rs, FastAPI, kubernetes). The wheel's other packages (injector, certs) and pip itself
# are removed: the image carries what `sidecar-init` imports and nothing else.
COPY build/wheelhouse/ /wheels/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --no-deps /wheels/sidecar_injector-*.whl \
 && /opt/venv/bin/python -c 'import importlib.metadata as m; print("\n".join(r.split(";")[0] for r in m.requires("sidecar-injector") if r.replace(" ", "").endswith("extra==\"init\"")))' > /tmp/init-requirements.txt \
 && /opt/venv/bin/pip install --no-index --find-links /wheels -r /tmp/init-requirements.txt \
 && /opt/venv/bin/pip uninstall -q -y pip setuptools \
 && rm -r /opt/venv/lib/python3*/site-packages/injector /opt/venv/lib/python3*/site-packages/certs \
          /opt/venv/bin/injector /opt/venv/bin/[Aa]ctivate* \
 && /opt/venv/bin/sidecar-init --help > /dev/null

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="sidecar-init" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.description="sidecar-injector iptables init (istio-iptables compatible)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's iptables carries both backends (iptables-legacy*, iptables-nft*, and the ip6tables
# ones); libip4tc2/libip6tc2/libxtables12 are what python-iptables loads. No iproute2:
# routing goes through pyroute2.
# XTABLES_LIBDIR must be one fixed path for ENV, but the extensions live in the multiarch
# directory (x86_64-linux-gnu, aarch64-linux-gnu, ...): link the one this image has.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables libip4tc2 libip6tc2 libxtables12 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/lib/*-linux-gnu/xtables /usr/lib/xtables \
 && test -f /usr/lib/xtables/libxt_owner.so
ENV XTABLES_LIBDIR=/usr/lib/xtables
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# No USER: the program must run as root with NET_ADMIN/NET_RAW to program netfilter; the
# injection template sets runAsUser 0, those two capabilities only, and drops the rest.
ENTRYPOINT ["sidecar-init"]
