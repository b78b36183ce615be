# Nodeless: `make demo` runs the whole product locally; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The product's lock and the development lock (simulator, tests, lint): the demo and the tests need
# both, the production image only the first. The stamp changes when either lock does.
LOCKS := requirements.txt requirements-dev.txt
STAMP := $(VENV)/.installed-$(shell cat $(LOCKS) | sha1sum | cut -c1-12)

# The test suite runs against the real services on this machine, never SQLite.
TEST_ENV := NODELESS_ENV=test \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nodeless} \
	CELERY_BROKER_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
# The benchmarks: the same, with a Redis database of their own (some empty theirs before a run,
# which would take a running test suite's queues and marks with it).
BENCH_ENV := NODELESS_ENV=test \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nodeless} \
	CELERY_BROKER_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14} \
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}

.PHONY: install demo test test-fast lint format bench bench-planner bench-simulator bench-federation bench-federation-fleet \
	bench-provisioning bench-savings bench-dashboard bench-load bench-fleet bench-consolidation bench-hostile-connect bench-standalone \
	services chromium lock clean migrate fuzz

install: $(STAMP)

$(STAMP): $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt 2>&1 \
		| sed '/is ignored: it is neither a file nor a directory/d'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The product first: the development lock is constrained by it (`-c requirements.txt`).
lock:
	$(PY) -m piptools compile --quiet --strip-extras --no-header requirements.in -o requirements.txt
	$(PY) -m piptools compile --quiet --strip-extras --no-header requirements-dev.in -o requirements-dev.txt

migrate: install
	NODELESS_ENV=development $(PY) manage.py migrate --no-input

# One command: installs, migrates, seeds, then runs web + worker + beat + simulated cloud/clusters.
demo: install
	NODELESS_ENV=development $(PY) manage.py demo

services:
	@bin/ensure-services

chromium:
	@bin/ensure-chromium

test: install services chromium
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

# Everything except the browser tests, for a quick loop while editing.
test-fast: install services
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadgroup -q -m "not browser" $(PYTEST_ARGS)

# Schemathesis against a live server: every API operation, every check, all phases (bin/fuzz).
# `make test` runs a bounded version (tests/nodeless_saas/test_api_fuzz.py).
fuzz: install services
	bin/fuzz

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	NODELESS_ENV=test $(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: bench-planner bench-simulator bench-federation bench-federation-fleet bench-provisioning bench-savings bench-dashboard bench-load \
	bench-fleet bench-consolidation bench-hostile-connect bench-standalone

bench-planner: install
	$(PY) bench/planner.py

bench-consolidation: install
	$(PY) bench/consolidation.py

bench-simulator: install
	$(PY) bench/simulator.py

bench-federation: install services
	$(BENCH_ENV) $(PY) bench/federation.py

bench-federation-fleet: install services
	$(BENCH_ENV) $(PY) bench/federation_fleet.py --member-processes 2 --api-workers 2

bench-provisioning: install services
	$(BENCH_ENV) $(PY) bench/provisioning.py

bench-savings: install
	$(PY) bench/savings.py

bench-dashboard: install services
	$(BENCH_ENV) $(PY) bench/dashboard.py

# 50 API clients for 60 s against gunicorn (production settings) on PostgreSQL.
bench-load: install services
	$(BENCH_ENV) $(PY) bench/load.py

bench-hostile-connect: install services
	$(BENCH_ENV) $(PY) bench/hostile_connect.py

bench-standalone: install services
	$(BENCH_ENV) $(PY) bench/standalone_cost.py

# 1,000 clusters in 100 organizations, a pass each every 10 s, on 2 then 4 Celery worker processes
# (5 minutes each; FLEET_ARGS="--seconds 60" for a quick look). Empties the broker's Redis database.
# First the fleet as it is deployed for it (thread-pool workers: 16 I/O-bound passes in flight per
# process): starved clusters and lag; then one pass per process (prefork), where the 4-vs-2 ratio
# measures the design rather than this machine's two cores.
bench-fleet: install services
	$(BENCH_ENV) $(PY) bench/fleet.py --pool threads $(FLEET_ARGS)
	$(BENCH_ENV) $(PY) bench/fleet.py --pool prefork $(FLEET_ARGS)

clean:
	rm -rf var staticfiles .mypy_cache .ruff_cache
