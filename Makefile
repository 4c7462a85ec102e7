# Two commands matter: `make demo` runs Horus, `make test` runs the checks and the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := horus workers cli tests benchmarks

.PHONY: demo test test-fast test-groups lint bench bench-smoke bench-cluster clean

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

# The core runtime's and the coordinator's tests, run again on a Redis Cluster and a Sentinel
# group (each started by scripts/redis-group for the run); `make test-groups GROUP_TESTS=...`
# runs others so. A Sentinel group is one master to the worker, whose own failover tests are in
# test_redis_sentinel.py: its pass leaves the worker's file out.
GROUP_TESTS ?= tests/integration/test_broker.py tests/integration/test_events.py \
  tests/integration/test_osiris_worker.py tests/integration/test_coordinator_canvas.py \
  tests/integration/test_coordinator_failover.py
CLUSTER_TESTS ?= $(GROUP_TESTS) tests/integration/test_worker.py

test: lint  ## lint, types, every test on one Redis (HORUS_TEST_REDIS_URL, default 127.0.0.1:6379/13), then the core on a cluster and a Sentinel group
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-groups

test-groups: $(STAMP)  ## the core runtime's tests on a Redis Cluster, then on a Sentinel group
	$(BIN)/pytest --redis-kind cluster --skip-slow $(CLUSTER_TESTS)
	$(BIN)/pytest --redis-kind sentinel --skip-slow $(GROUP_TESTS)

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
