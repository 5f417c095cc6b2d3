# Two commands on a fresh clone: `make demo` and `make test`. Everything else is for developers.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the tests need: iptables (legacy + nft, and the xtables extensions that
# python-iptables loads), iproute2 (ip netns), wrk (webhook benchmark), conntrack (DNS tests),
# nftables (the native nftables backend), etcd-server (the control plane of tests/cluster,
# with KUBEBUILDER_ASSETS' kube-apiserver),
# podman + runc + mmdebstrap (the image tests build and run both images on a local base).
APT_PACKAGES := iptables iproute2 wrk conntrack nftables etcd-server podman runc mmdebstrap
PYTEST_ARGS ?=

.PHONY: demo test check fmt bench golden deps-system venv clean
.PHONY: wheels images base-image push-images image-archives images-clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.stamp-core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq -e '.[dev]'
	touch $@ $(VENV)/.stamp-core

venv: $(VENV)/.stamp-dev

deps-system:
	@if [ "$$(id -u)" = 0 ]; then \
	  need=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || need="$$need $$p"; done; \
	  if [ -n "$$need" ]; then echo "apt-get install$$need"; apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need >/dev/null; fi; \
	else echo "not root: not installing $(APT_PACKAGES); root tests will be skipped"; fi

demo: $(VENV)/.stamp-core
	@$(BIN)/python manifests/examples/demo.py

test: deps-system $(VENV)/.stamp-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(VENV)/.stamp-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(VENV)/.stamp-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: deps-system $(VENV)/.stamp-dev
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

golden: $(VENV)/.stamp-dev
	REFRESH_GOLDEN=1 $(BIN)/python -m pytest -q -m "not root" tests/injector tests/init

clean: images-clean
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache

# ---- images ----------------------------------------------------------------------------
# `make images` builds both images with podman (docker/podman: the store lives in
# build/podman, not the host's). IMAGE_REPO/IMAGE_TAG name them; BASE_IMAGE overrides the
# Dockerfiles' pinned base. BASE_IMAGE=$(LOCAL_BASE) (what the image tests use) builds on a
# local Debian 12 made with mmdebstrap, for machines that cannot pull; its rootfs tarball is
# cached in $(IMAGE_CACHE), outside the clone, so a fresh clone (CI) reuses it; delete it to
# refresh the base's packages. PODMAN=podman (or docker) uses your own engine and store.
PODMAN ?= docker/podman
IMAGE_REPO ?= ghcr.io/sidecar-injector
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
WEBHOOK_IMAGE := $(IMAGE_REPO)/injector:$(IMAGE_TAG)
INIT_IMAGE := $(IMAGE_REPO)/sidecar-init:$(IMAGE_TAG)
BASE_IMAGE ?=
LOCAL_BASE := localhost/sidecar-base:bookworm
IMAGE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sidecar-injector
BASE_TARBALL := $(IMAGE_CACHE)/bookworm-minbase-python3.tar
WHEELHOUSE := build/wheelhouse
SOURCES := pyproject.toml README.md $(shell find injector init certs -type f -not -name '*.pyc')

# The wheelhouse, built with this venv's Python (3.11, as in the images; python-iptables
# compiles its C extension here): every dependency of the webhook and init extras (rebuilt
# when pyproject.toml changes), then the project's own wheel (rebuilt when a source changes,
# without the dependencies). setuptools' build/lib is removed first: it would otherwise carry
# modules deleted from the tree into the wheel.
$(WHEELHOUSE)/.stamp-deps: pyproject.toml | $(BIN)/python
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(BIN)/pip wheel -q --wheel-dir $(WHEELHOUSE) '.[webhook,init]'
	rm $(WHEELHOUSE)/sidecar_injector-*.whl
	touch $@

$(WHEELHOUSE)/.stamp: $(SOURCES) $(WHEELHOUSE)/.stamp-deps
	rm -rf build/lib build/bdist.* $(WHEELHOUSE)/sidecar_injector-*.whl
	$(BIN)/pip wheel -q --no-deps --wheel-dir $(WHEELHOUSE) .
	touch $@

wheels: $(WHEELHOUSE)/.stamp

# Written under a temporary name and renamed, so that clones building at once never read
# a half-written tarball.
$(BASE_TARBALL):
	mkdir -p $(IMAGE_CACHE)
	mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv,python-is-python3 \
	  $(foreach p,/usr/share/doc/* /usr/share/man/* /usr/share/locale/*,--dpkgopt='path-exclude=$(p)') \
	  --dpkgopt='path-include=/usr/share/doc/*/copyright' bookworm $@.$$$$.part && mv $@.$$$$.part $@

base-image: $(BASE_TARBALL)
	$(PODMAN) image exists $(LOCAL_BASE) || $(PODMAN) import -q $(BASE_TARBALL) $(LOCAL_BASE)

images: wheels $(if $(filter $(LOCAL_BASE),$(BASE_IMAGE)),base-image)
	$(PODMAN) build -q --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
	  -f docker/webhook.Dockerfile -t $(WEBHOOK_IMAGE) .
	$(PODMAN) build -q --network host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
	  -f docker/init.Dockerfile -t $(INIT_IMAGE) .

push-images:
	$(PODMAN) push $(WEBHOOK_IMAGE)
	$(PODMAN) push $(INIT_IMAGE)

# docker-archive tarballs, for clusters without a registry (`kind load image-archive ...`).
image-archives:
	mkdir -p build/images
	rm -f build/images/injector.tar build/images/sidecar-init.tar
	$(PODMAN) save -q -o build/images/injector.tar $(WEBHOOK_IMAGE)
	$(PODMAN) save -q -o build/images/sidecar-init.tar $(INIT_IMAGE)

# `make print-INIT_IMAGE`: a variable's value (the image tests read the image names here).
print-%:
	@echo $($*)

images-clean:
	if [ -d build/podman ]; then docker/podman system reset -f; fi
	rm -rf build/podman build/images $(WHEELHOUSE)
