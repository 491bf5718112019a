# Python 3.13 is the Lambda runtime we target; pyenv's shim only runs with PYENV_VERSION set, so detect it by running it.
PYTHON ?= $(shell if PYENV_VERSION=3.13.0 python3.13 -c 'import sys' >/dev/null 2>&1; then echo "env PYENV_VERSION=3.13.0 python3.13"; else echo python3; fi)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own boto3 and friends, which conflict with the project's: it gets a venv of its own.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
CHECKOV_VERSION := 3.3.30

.PHONY: install test lint typecheck unit integration e2e demo bench soak clean lint-infra package

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,cli,dev,bench]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/shellcheck scripts/*.sh scripts/run-pytest .ci/run

typecheck: install
	$(BIN)/mypy

test: lint typecheck lint-infra
	scripts/run-pytest tests/unit tests/integration tests/e2e

demo: install
	$(BIN)/python -m cli.demo

bench: install
	$(BIN)/python -m cli.bench --out-dir bench-results

soak: install
	$(BIN)/asg-namer chaos --soak --json soak-results.json

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $(TOOLS_STAMP)

# cfn-lint clean; checkov clean with each remaining finding suppressed inline in the template with its reason.
lint-infra: install $(TOOLS_STAMP)
	$(BIN)/cfn-lint infra/cloudformation.yaml
	$(TOOLS)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/cloudformation.yaml

package: install
	$(BIN)/python -m cli.package --output dist/lambda.zip

clean:
	rm -rf $(VENV) $(TOOLS) dist .pytest_cache .mypy_cache .ruff_cache
