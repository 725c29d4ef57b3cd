# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Meltano's plugins (the tap, editable, and target-duckdb pinned to duckdb 1.0.0) live in
# .meltano/; this stamp says they are installed for the current meltano.yml and pyproject.toml.
PLUGINS := .meltano/.plugins-installed
# The warehouse loaders (target-postgres, target-snowflake) are defined in meltano.yml but only
# installed on request: `$(BIN)/meltano install target-postgres`.
DEFAULT_PLUGINS := tap-replies target-duckdb

.PHONY: demo test lint typecheck unit elt bench plugins clean

# uv (a wheel from PyPI) installs the project, its dev tools and meltano in a few seconds;
# it is also what Meltano 4 uses for the plugins' own venvs.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,meltano]'
	touch $(STAMP)

$(PLUGINS): $(STAMP) meltano.yml pyproject.toml
	MELTANO_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/meltano install $(DEFAULT_PLUGINS)
	touch $(PLUGINS)

plugins: $(PLUGINS)

demo: $(PLUGINS)
	$(BIN)/python scripts/demo.py

test: $(PLUGINS) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check tap_replies tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy tap_replies

unit: $(PLUGINS)
	$(BIN)/pytest

elt: $(PLUGINS)
	$(BIN)/pytest -m elt

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .meltano output .pytest_cache .mypy_cache .ruff_cache
