# The two commands a new user needs: `make demo` and `make test`. Both build a venv on first use.
#
# Both run on the newest Airflow release by default (venv .venv). Another release:
#   make test AIRFLOW_VERSION=3.1.8     (venv .venv-airflow-3.1.8)
#   make demo AIRFLOW_VERSION=3.0.6
# `make test-matrix` runs the Airflow-facing suite on the latest release of every supported line (see MATRIX).
# Each line's few dependency pins are in constraints/airflow-<line>.txt, each with the reason it exists.
PYTHON ?= python3
NEWEST_AIRFLOW := 3.3.2
MATRIX := 3.0.6 3.1.8 3.2.2 3.3.2
AIRFLOW_VERSION ?= $(NEWEST_AIRFLOW)

# 3.1.8 -> 3.1
AIRFLOW_LINE := $(word 1,$(subst ., ,$(AIRFLOW_VERSION))).$(word 2,$(subst ., ,$(AIRFLOW_VERSION)))
CONSTRAINTS := constraints/airflow-$(AIRFLOW_LINE).txt
ifeq ($(AIRFLOW_VERSION),$(NEWEST_AIRFLOW))
VENV := .venv
else
VENV := .venv-airflow-$(AIRFLOW_VERSION)
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Developer dependencies are PEP 735 dependency groups (pyproject.toml), not published extras.
# Airflow 3.0 and 3.1 build the connection form with flask-appbuilder, which the fab provider brings.
GROUPS := --group test --group bench
# The OpenLineage provider (the export's lineage test) on the newest line only; older lines skip that test.
ifeq ($(AIRFLOW_VERSION),$(NEWEST_AIRFLOW))
GROUPS += --group lineage
endif
EXTRAS :=
ifneq ($(filter 3.0 3.1,$(AIRFLOW_LINE)),)
EXTRAS := [fab]
endif

.PHONY: dist test-wheel demo test test-suite test-matrix test-deployment lint typecheck bench bench-quick venv clean services

venv: $(STAMP)

$(CONSTRAINTS):
	@echo "No $(CONSTRAINTS): Airflow $(AIRFLOW_VERSION) is not a supported line (see README, Supported Airflow versions)."
	@exit 1

# Re-install when the package metadata or the line's pins change. PIP_PROGRESS_BAR keeps CI logs short.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing airflow-dtcal with Airflow $(AIRFLOW_VERSION) into $(VENV) (a minute or more the first time)..."
	@PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
	@PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		$(GROUPS) -e ".$(EXTRAS)" "apache-airflow==$(AIRFLOW_VERSION)" -c $(CONSTRAINTS) 2>&1 \
		| grep -v -e "is ignored" -e "^\s*$$" || true
	@$(BIN)/python -c "import airflow_dtcal.hooks.calendar, airflow_dtcal.testing, alibabacloud_dingtalk" \
		> $(VENV)/.import-check.log 2>&1 \
		|| { tail -20 $(VENV)/.import-check.log; echo "The install into $(VENV) failed; see the pip output above."; exit 1; }
	@$(BIN)/python -c "import airflow, sys; v = airflow.__version__; sys.exit(0 if v == '$(AIRFLOW_VERSION)' else \
		f'{sys.argv[0]}: $(VENV) has Airflow {v}, not $(AIRFLOW_VERSION)')"
	@touch $@

demo: $(STAMP)
	@$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy on the package and the example DAGs (configured in pyproject.toml): 0 errors.
typecheck: $(STAMP)
	$(BIN)/mypy

# pacing="redis" is tested and benchmarked against Debian's redis-server, which the tests and the benchmark
# start on loopback themselves; installed here when missing (as root, with apt-get).
services:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing redis-server (Debian package) for the Redis pacing tests..."; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >/dev/null \
				|| { echo "apt-get install redis-server failed"; exit 1; }; \
		else echo "redis-server is missing: apt-get install redis-server (the Redis pacing tests need it)"; exit 1; fi; }

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; each has its own Airflow home, metadata database,
# emulator and Redis): most of a test's time is spent waiting on loopback HTTP and pacing, so 4 workers on 2
# cores take about half the wall time of one. PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 4
# What test-suite selects: the whole suite by default; the matrix leaves out the tests of code that imports
# no Airflow (marker airflow_free, see tests/conftest.py), which cannot differ between Airflow lines, and the
# tests of our own state and parsing at ten times their sizes (marker scale).
PYTEST_SELECT ?=

test: $(STAMP) lint typecheck services
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)
	$(BIN)/python benchmarks/run.py --quick

# The test suite alone, on AIRFLOW_VERSION (what test-matrix runs for each line).
test-suite: $(STAMP) services
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_SELECT)

# The suite on the latest release of each supported line, without the airflow_free and scale tests (the
# newest line runs those in `make test`); fails if any line fails.
test-matrix:
	@bash scripts/test-matrix.sh $(MATRIX)

# A real deployment: PostgreSQL, the emulator and Airflow's four services as separate processes (a few minutes).
# EXECUTOR=celery: the CeleryExecutor instead, with Redis (broker and pacer store) and two Celery workers.
EXECUTOR ?= local
test-deployment: $(STAMP) $(if $(filter celery,$(EXECUTOR)),services)
	@$(BIN)/python -c "import psycopg2, asyncpg, airflow.providers.celery" 2>/dev/null || { \
		PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check --group deploy "apache-airflow==$(AIRFLOW_VERSION)" -c $(CONSTRAINTS) 2>&1 \
			| grep -v -e "is ignored" -e "^\s*$$"; \
		$(BIN)/python -c "import psycopg2, asyncpg, airflow.providers.celery" || { echo "Installing the deploy extra failed; see above."; exit 1; }; }
	$(BIN)/python scripts/deployment/run.py --executor $(EXECUTOR)

# The wheel and the sdist in dist/, checked by twine (metadata, README rendering).
dist: $(STAMP)
	@$(BIN)/python -c "import build, twine" 2>/dev/null || PIP_PROGRESS_BAR=off $(BIN)/python -m pip install \
		--quiet --disable-pip-version-check --group dist
	rm -rf dist
	$(BIN)/python -m build --outdir dist . > .build.log 2>&1 || { tail -30 .build.log; exit 1; }
	$(BIN)/python -m twine check --strict dist/*

# The built wheel (not editable) in a fresh venv: the README's DAG run by `airflow dags test` against
# dtcal-emulator, and the README's pytest example in a user's own project (a few minutes).
test-wheel: dist
	DTCAL_WHEEL="$$(ls dist/*.whl)" AIRFLOW_VERSION=$(AIRFLOW_VERSION) CONSTRAINTS=$(CONSTRAINTS) \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/packaging/test_fresh_venv.py

bench: $(STAMP) services
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP) services
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf .venv .venv-airflow-* .demo .matrix .deployment build dist .build.log *.egg-info .pytest_cache .ruff_cache
