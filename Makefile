# Every target sets up what it needs: a fresh clone only has to run `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test: xdist workers (0: one process). Three shared e2e stacks, the PostgreSQL topology
# and two more for the rest; each worker costs some 8 CPU-s to collect the suite, and the
# Airflow stacks keep both cores busy already.
TEST_WORKERS ?= 6
UNIT_WORKERS ?= 3
# The suite starts some fifty Python processes (Airflow's, the xdist workers, subprocesses):
# compileall writes the bytecode caches of the package and the test helpers once, before the
# workers would each compile them, and with PYTHONDONTWRITEBYTECODE cleared pytest caches the
# test modules it rewrites for assertions.
WITH_BYTECODE := PYTHONDONTWRITEBYTECODE=
BENCH_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help install test unit lint demo bench screenshots clean

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv with the package and its test tools

test: $(STAMP)  ## Run the whole suite: unit, integration and end-to-end
	$(BIN)/python -m compileall -q sagemaker_async tests
	$(WITH_BYTECODE) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

unit: $(STAMP)  ## Run the unit tests only (no servers)
	$(BIN)/python -m compileall -q sagemaker_async tests
	$(WITH_BYTECODE) $(BIN)/python -m pytest -n $(UNIT_WORKERS) tests/unit $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff check, ruff format --check and mypy --strict on the package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict sagemaker_async

demo: $(STAMP)  ## The example DAG through a real Airflow stack and the SageMaker simulator (KEEP=1 keeps it up; TOPOLOGY=ha: PostgreSQL, 2 schedulers, 2 triggerers)
	KEEP=$(KEEP) TOPOLOGY=$(TOPOLOGY) $(BIN)/python -m tests.e2e.demo

bench: $(STAMP)  ## Our trigger vs the amazon provider's at scale on the simulator (BENCH_ARGS=--quick: smoke run)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

screenshots: $(STAMP)  ## README screenshots (docs/ui/*.png) of the real Airflow UI in headless Chromium
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium fonts-liberation; }
	$(BIN)/python -m pip install --quiet -e '.[test,screenshots]'
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m tests.e2e.screenshots

clean:  ## Remove .venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
