# Two commands matter: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

PY_FILES := ivr tests $(wildcard bench scripts/*.py)
FAST   := not browser and not postgres and not serving and not slow

.PHONY: run test test-fast check lint typecheck system-deps validate clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.runtime

validate: $(VENV)/.runtime
	$(BIN)/ivr validate

## Set up, check the flows, and serve on http://$(HOST):$(PORT) exactly as the Procfile does.
run: validate
	@scripts/serve-locally "$(BIN)" "$(HOST)" "$(PORT)"

## Set up (Python and Debian packages) and run every check and test.
test: system-deps check
	$(BIN)/python -m pytest

## The inner loop, no root needed: `make check` (lint and types), `make test-fast` (the tests that need no
## browser, PostgreSQL or server process and are not slow: the markers in pyproject.toml).
check: lint typecheck

lint: $(VENV)/.test
	$(BIN)/ruff check $(PY_FILES)
	$(BIN)/ruff format --check $(PY_FILES)

typecheck: $(VENV)/.test
	$(BIN)/mypy

test-fast: $(VENV)/.test
	$(BIN)/python -m pytest -m "$(FAST)"

system-deps:
	@scripts/install-system-deps

## Benchmarks, not part of `make test`: the app as the Procfile runs it against the idiomatic peer and a
## bare Flask floor, then an unsigned flood against signed calls, then eight dashboards of a year against them,
## then how long `ivr --help` takes.
bench: $(VENV)/.runtime
	$(BIN)/python bench/load.py
	$(BIN)/python bench/flood.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/cli_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
