# The webhook image: `injector serve` (FastAPI/uvicorn over HTTPS on 15017).
#   docker build -f docker/webhook.Dockerfile -t ghcr.io/sidecar-injector/injector:0.1.0 .
# Base pinned by exact tag (Python 3.11 patch release, Debian 12); pin by digest in your
# registry mirror if you need bit-for-bit rebuilds.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY injector/ injector/
COPY certs/ certs/
COPY init/ init/
# Every [webhook] dependency ships manylinux wheels (uvloop, httptools, cryptography, orjson,
# PyYAML): no compiler needed. pip byte-compiles, so the read-only root FS costs nothing.
RUN /opt/venv/bin/pip install '.[webhook]'

FROM python:3.11.11-slim-bookworm
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
