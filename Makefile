# Two commands do all the set-up on a fresh clone:
#   make demo   - the whole pipeline on the bundled sample photos, in the embedded local cloud
#   make test   - lint and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export SLS_TELEMETRY_DISABLED := 1
export AWS_EC2_METADATA_DISABLED := true

.PHONY: setup demo up test lint format package clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

demo: setup
	$(PY) -m localcloud demo

up: setup
	$(PY) -m localcloud up

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest

clean:
	rm -rf .serverless artifacts .pytest_cache
