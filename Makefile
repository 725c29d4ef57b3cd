# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make demo` needs less: the project, meltano and duckdb in .venv (no dev tools, Dagster or
# psycopg), and three plugins. `make test` installs everything and marks the demo's part done too.
DEMO_STAMP := $(VENV)/.installed-demo
# Meltano's plugins live in .meltano/, each in its own venv; this stamp says they are installed
# for the current pip_urls (PLUGIN_SPEC below) and pyproject.toml. The tap (editable),
# target-duckdb (pinned to duckdb 1.0.0) and dbt-duckdb run the demo; target-postgres and the
# three dbt utilities run the warehouse tests. target-snowflake is installed on request.
PLUGINS := .meltano/.plugins-installed
# The dashboard's libraries are installed (`make dashboard`, `make test`): this stamp says so.
DASHBOARD := $(VENV)/.dashboard-installed
DEMO_PLUGINS := .meltano/.demo-plugins-installed
DEMO_PLUGIN_NAMES := tap-replies target-duckdb dbt-duckdb
DEFAULT_PLUGINS := $(DEMO_PLUGIN_NAMES) target-postgres dbt-postgres dbt-snowflake
# The Snowflake test runs dbt-snowflake on fakesnow, in the dbt-snowflake utility's venv: fakesnow
# needs duckdb 2, and the project's venv pins duckdb 1.0.0 (target-duckdb's file format).
DBT_SNOWFLAKE_PYTHON := .meltano/utilities/dbt-snowflake/venv/bin/python
FAKESNOW := fakesnow==0.12.1
# Where `make sync-all` and `make dagster-dev` keep Dagster's runs (see orchestration/dagster.yaml).
DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: demo test lint typecheck unit elt bench plugins clean sync-all dagster-dev dashboard FORCE

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
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[demo]'
	touch $(DEMO_STAMP)

# What installs the plugins, and only that: each plugin's pip_url in meltano.yml, the list above
# and fakesnow's pin. The file is rewritten only when that changes, so `meltano config set`
# (which edits meltano.yml) reinstalls nothing; pyproject.toml is what installs the tap.
PLUGIN_SPEC := .meltano/.plugins-spec
$(PLUGIN_SPEC): FORCE
	@mkdir -p .meltano
	@{ grep -E '^ +pip_url:' meltano.yml; echo '$(DEFAULT_PLUGINS) $(FAKESNOW)'; } > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

FORCE:

$(PLUGINS): $(STAMP) $(PLUGIN_SPEC) pyproject.toml
	MELTANO_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/meltano install $(DEFAULT_PLUGINS)
	$(BIN)/uv pip install --quiet --python $(DBT_SNOWFLAKE_PYTHON) '$(FAKESNOW)'
	touch $(PLUGINS) $(DEMO_PLUGINS)

$(DEMO_PLUGINS): $(DEMO_STAMP) $(PLUGIN_SPEC) pyproject.toml
	MELTANO_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/meltano install $(DEMO_PLUGIN_NAMES)
	touch $(DEMO_PLUGINS)

plugins: $(PLUGINS)

demo: $(DEMO_PLUGINS)
	$(BIN)/python scripts/demo.py

test: $(PLUGINS) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check tap_replies orchestration tests benchmarks scripts dashboard

typecheck: $(STAMP)
	$(BIN)/mypy tap_replies orchestration dashboard

unit: $(PLUGINS) $(DASHBOARD)
	$(BIN)/pytest

elt: $(PLUGINS)
	$(BIN)/pytest -m elt

# Every workspace (workspaces/*.meltano.yml) once through Dagster, in parallel, then the dbt build,
# into the Postgres that TARGET_POSTGRES_* name; exits non-zero naming each workspace that failed.
# make reports any failure as its own status 2: scripts/sync-all keeps the 0 / 1 / 2 (cron, CI).
sync-all: $(PLUGINS)
	@DAGSTER_HOME=$(DAGSTER_HOME) scripts/sync-all || { code=$$?; echo "make: scripts/sync-all \
	exited $$code (1: a workspace failed, 2: setup missing); make's own status is 2, so cron \
	and CI run scripts/sync-all, which keeps it" >&2; exit $$code; }

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

# The dashboard (dashboard/) on http://127.0.0.1:8765 over the marts of the warehouse the
# TARGET_* variables name (DuckDB's output/replies.duckdb by default). Its libraries (the
# `dashboard` extra) are installed here and by `make test` only; Snowflake's driver only when
# TARGET_SNOWFLAKE_ACCOUNT is set. DASHBOARD_ARGS='--port 9000' or '--snapshot file.html'.
# On top of the demo's venv (meltano, duckdb), not the dev tools: `uv pip install` adds, so after
# `make test` nothing of the dev install is lost.
$(DASHBOARD): $(DEMO_STAMP) pyproject.toml
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[demo,dashboard]'
	touch $(DASHBOARD)

dashboard: $(DASHBOARD)
	$(if $(TARGET_SNOWFLAKE_ACCOUNT),$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dashboard-snowflake]')
	$(BIN)/python -m dashboard $(DASHBOARD_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .meltano output .dagster .pytest_cache .mypy_cache .ruff_cache transform/target transform/logs
