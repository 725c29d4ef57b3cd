# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Meltano's plugins live in .meltano/, each in its own venv; this stamp says they are installed
# for the current meltano.yml and pyproject.toml. The tap (editable), target-duckdb (pinned to
# duckdb 1.0.0) and dbt-duckdb run the demo; target-postgres and the three dbt utilities run the
# warehouse tests. target-snowflake is defined in meltano.yml, installed on request.
PLUGINS := .meltano/.plugins-installed
DEFAULT_PLUGINS := tap-replies target-duckdb target-postgres dbt-duckdb dbt-postgres dbt-snowflake
# The Snowflake test runs dbt-snowflake on fakesnow, in the dbt-snowflake utility's venv: fakesnow
# needs duckdb 2, and the project's venv pins duckdb 1.0.0 (target-duckdb's file format).
DBT_SNOWFLAKE_PYTHON := .meltano/utilities/dbt-snowflake/venv/bin/python
FAKESNOW := fakesnow==0.12.1
# Where `make sync-all` and `make dagster-dev` keep Dagster's runs (see orchestration/dagster.yaml).
DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: demo test lint typecheck unit elt bench plugins clean sync-all dagster-dev

# uv (a wheel from PyPI) installs the project, its dev tools and meltano in a few seconds;
# it is also what Meltano 4 uses for the plugins' own venvs.
# Bytecode is compiled at install, as pip does: uv does not by default, and with
# PYTHONDONTWRITEBYTECODE set (as on CI) every tap start then compiled singer-sdk and its
# imports from source: ~0.9 CPU-s a start, as much as 20k records cost the tap.
export UV_COMPILE_BYTECODE := 1
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,meltano,dagster]'
	touch $(STAMP)

$(PLUGINS): $(STAMP) meltano.yml pyproject.toml
	MELTANO_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/meltano install $(DEFAULT_PLUGINS)
	$(BIN)/uv pip install --quiet --python $(DBT_SNOWFLAKE_PYTHON) '$(FAKESNOW)'
	touch $(PLUGINS)

plugins: $(PLUGINS)

demo: $(PLUGINS)
	$(BIN)/python scripts/demo.py

test: $(PLUGINS) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check tap_replies orchestration tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy tap_replies orchestration

unit: $(PLUGINS)
	$(BIN)/pytest

elt: $(PLUGINS)
	$(BIN)/pytest -m elt

# Every workspace (workspaces/*.meltano.yml) once through Dagster, in parallel, then the dbt build,
# into the Postgres that TARGET_POSTGRES_* name; exits non-zero naming each workspace that failed.
sync-all: $(PLUGINS)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/python -m orchestration sync-all

# The Dagster UI (asset graph, runs, schedules) on http://127.0.0.1:$(DAGSTER_PORT), through
# `dg dev`; Ctrl-C or SIGTERM stops all of it. Schedules and the dbt sensor stay off unless
# AUTOMATION=on (a deployment turns them on: orchestration/deploy/README.md).
DAGSTER_PORT ?= 3000
AUTOMATION ?= off
dagster-dev: $(PLUGINS)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,meltano,dagster,dagster-ui]'
	mkdir -p $(DAGSTER_HOME) && cp -n orchestration/dagster.yaml $(DAGSTER_HOME)/ || true
	DAGSTER_HOME=$(DAGSTER_HOME) TAP_REPLIES_AUTOMATION=$(AUTOMATION) \
		$(BIN)/python scripts/dagster_dev.py --port $(DAGSTER_PORT)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .meltano output .dagster .pytest_cache .mypy_cache .ruff_cache transform/target transform/logs
