# Python 3.13 is the Lambda runtime we target; pyenv's shim only runs with PYENV_VERSION set, so detect it by running it.
PYTHON ?= $(shell if PYENV_VERSION=3.13.0 python3.13 -c 'import sys' >/dev/null 2>&1; then echo "env PYENV_VERSION=3.13.0 python3.13"; else echo python3; fi)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit integration e2e demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,cli,dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	scripts/run-pytest tests/unit tests/integration tests/e2e

demo: install
	$(BIN)/python -m cli.demo

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache
