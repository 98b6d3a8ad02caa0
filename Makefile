# fogstrat developer entry points. `make run` and `make test` work on a fresh Debian machine:
# they install what is missing (apt packages, a virtualenv from pyproject.toml) first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help deps venv lint typecheck test unit integration e2e chaos run stop demo-failover bench image e2e-container clean

help:
	@echo "make run            start etcd, fogsim and the controller, apply the example, show it serving"
	@echo "                    (ports and addresses: FOGSTRAT_ETCD_PORT, FOGSIM_ADDR, ... see docs/local-stack.md)"
	@echo "make demo-failover  take the aggregator's node down, watch failover and failback"
	@echo "make stop           stop everything make run started"
	@echo "make test           lint, typecheck and run the whole test suite"
	@echo "make chaos          the chaos suite's long form (10,000 mutated documents, churn)"
	@echo "make bench          run the benchmarks (results under .bench/)"
	@echo "make image          build the container image (podman or docker)"

deps:
	@hack/install-deps.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing fogstrat and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install --upgrade pip && \
	   $(BIN)/python -m pip install -e '.[dev,fog05]'; } >$(VENV)/install.log 2>&1 || \
	  { tail -20 $(VENV)/install.log; echo "error: pip install failed (see $(VENV)/install.log)"; exit 1; }
	@touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_code_shape.py

# What mypy checks (every Python file of ours) is listed in pyproject.toml's [tool.mypy].
typecheck: venv
	$(BIN)/mypy

test: deps venv lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS) tests

unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

integration: deps venv
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

e2e: deps venv
	$(BIN)/pytest -q tests/e2e $(PYTEST_ARGS)

# The long form of tests/chaos (make test runs its short form); figures in .bench/chaos.json.
chaos: deps venv
	FOGSTRAT_CHAOS=long FOGSTRAT_CHAOS_REPORT=.bench/chaos.json \
	  $(BIN)/pytest -q --timeout 1200 $(PYTEST_ARGS) tests/chaos

run: deps venv
	@hack/local-stack.sh up

stop:
	@hack/local-stack.sh down

demo-failover: venv
	@hack/local-stack.sh demo-failover

bench: deps venv
	$(BIN)/python hack/bench/run.py

image:
	@hack/build-image.sh

e2e-container: deps venv
	@hack/e2e-container.sh

clean: stop
	rm -rf .run .bench build *.egg-info .mypy_cache .ruff_cache .pytest_cache
