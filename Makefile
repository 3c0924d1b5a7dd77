# The two commands a new user needs: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-deployment lint bench bench-quick venv clean

venv: $(STAMP)

# Re-install when the package metadata changes. PIP_PROGRESS_BAR keeps CI logs short.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing airflow-dtcal and its test tools into $(VENV) (about a minute the first time)..."
	@PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
	@PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]" 2>&1 | grep -v -e "is ignored" -e "^\s*$$" || true
	@$(BIN)/python -c "import airflow_dtcal.hooks.calendar, airflow_dtcal.testing, alibabacloud_dingtalk" \
		|| { echo "The install into $(VENV) failed; see the pip output above."; exit 1; }
	@touch $@

demo: $(STAMP)
	@$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint
	$(BIN)/python -m pytest -q
	$(BIN)/python benchmarks/run.py --quick

# A real deployment: PostgreSQL, the emulator and Airflow's four services as separate processes (a few minutes).
test-deployment: $(STAMP)
	@$(BIN)/python -c "import psycopg2, asyncpg" 2>/dev/null || { \
		PIP_PROGRESS_BAR=off $(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[deploy]" 2>&1 \
			| grep -v -e "is ignored" -e "^\s*$$"; \
		$(BIN)/python -c "import psycopg2, asyncpg" || { echo "Installing the deploy extra failed; see above."; exit 1; }; }
	$(BIN)/python scripts/deployment/run.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) .demo .deployment build *.egg-info .pytest_cache .ruff_cache
