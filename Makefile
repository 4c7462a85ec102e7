# Two commands matter: `make demo` runs Horus, `make test` runs the checks and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := horus workers cli tests benchmarks

.PHONY: demo test test-fast lint bench bench-smoke bench-cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)  ## a worker, a signed job and its result (embedded Redis unless one is configured)
	$(BIN)/horus demo

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

test: lint  ## lint, types, then every test (Redis at HORUS_TEST_REDIS_URL, default 127.0.0.1:6379/13)
	$(BIN)/pytest

test-fast: $(STAMP)  ## the suite without the slow chaos tests
	$(BIN)/pytest --skip-slow

BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e ".[bench]"
	$(BENCH_VENV)/bin/pip install --quiet --no-deps "arq>=0.28,<0.29"  # see the bench group in pyproject.toml
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## Horus and the peers, side by side (see benchmarks/README.md)
	$(BENCH_VENV)/bin/python -m benchmarks.run

bench-smoke: $(STAMP)  ## a few hundred jobs through the benchmark, so it cannot rot
	$(BIN)/python -m benchmarks.run --smoke

bench-cluster: $(STAMP)  ## Horus on a local 3-master Redis Cluster against one Redis, paired (docs/performance.md)
	$(BIN)/python -m benchmarks.cluster_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
