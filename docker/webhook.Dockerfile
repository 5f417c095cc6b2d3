# The webhook image: `injector serve` (FastAPI/uvicorn over HTTPS on 15017). Build it with
# `make images` (which first builds the wheelhouse on the host), or by hand from the
# repository root after `make wheels`:
#   podman build -f docker/webhook.Dockerfile -t ghcr.io/sidecar-injector/injector:0.1.0 .
# The base is a build argument: the default is pinned by exact tag (Python 3.11 patch release,
# Debian 12); pass a mirror's copy, a digest, or a local Debian 12 image with python3 and
# python3-venv (the tests use one made with mmdebstrap).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# From the wheelhouse only (`make wheels`); pip byte-compiles, so the read-only root FS costs
# nothing at start-up. pip itself is not needed at run time.
COPY build/wheelhouse/ /wheels/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels "$(echo /wheels/sidecar_injector-*.whl)[webhook]" \
 && /opt/venv/bin/pip uninstall -q -y pip setuptools \
 && rm /opt/venv/bin/[Aa]ctivate* \
 && /opt/venv/bin/injector serve --help > /dev/null

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="injector" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.description="sidecar-injector mutating admission webhook" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Unprivileged numeric user ("nonroot" in distroless): runAsNonRoot can verify a numeric UID.
USER 65532:65532
EXPOSE 15017
ENTRYPOINT ["injector"]
CMD ["serve", "--help"]
