# The init image: `sidecar-init`, the istio-iptables compatible program run by the injected
# istio-init container (args `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT ...`; the
# leading `istio-iptables` word is accepted).
#   docker build -f docker/init.Dockerfile -t ghcr.io/sidecar-injector/sidecar-init:0.1.0 .
# Base pinned by exact tag (Python 3.11 patch release, Debian 12); pin by digest in your
# registry mirror if you need bit-for-bit rebuilds.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# python-iptables builds a small C extension from its sdist: a compiler, here only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY injector/ injector/
COPY certs/ certs/
COPY init/ init/
RUN /opt/venv/bin/pip install '.[init]'

FROM python:3.11.11-slim-bookworm
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
 && apt-get install -y --no-install-recommends iptables libip4tc2 libip6tc2 libxtables12 \
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
