# Two commands on a fresh clone: `make demo` and `make test`. Everything else is for developers.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the tests need: iptables (legacy + nft, and the xtables extensions that
# python-iptables loads), iproute2 (ip netns), wrk (webhook benchmark), conntrack (DNS tests),
# etcd-server (the control plane of tests/cluster, with KUBEBUILDER_ASSETS' kube-apiserver).
APT_PACKAGES := iptables iproute2 wrk conntrack etcd-server
PYTEST_ARGS ?=

.PHONY: demo test check fmt bench golden deps-system venv clean

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
	cp injector/data/sidecar.yaml.j2 injector/data/gateway.yaml.j2 manifests/base/config/
	REFRESH_GOLDEN=1 $(BIN)/python -m pytest -q -m "not root" tests/injector tests/init

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
