# Two commands do all the set-up on a fresh clone:
#   make demo   - the whole pipeline on the bundled sample photos, in the embedded local cloud
#   make test   - lint and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export SLS_TELEMETRY_DISABLED := 1
export AWS_EC2_METADATA_DISABLED := true

.PHONY: setup demo up package test lint format bench bench-images bench-pipeline clean

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

package: setup
	$(PY) -m localcloud package --stage $(or $(STAGE),dev)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	node --check localcloud/console_static/app.js

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest

# Benchmarks print figures; they install the comparison tools (pyvips, ImageMagick) themselves.
$(VENV)/.bench: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

bench-images: setup $(VENV)/.bench
	OMP_NUM_THREADS=1 VIPS_CONCURRENCY=1 $(PY) -m bench.images

bench-pipeline: setup $(VENV)/.bench
	$(PY) -m bench.pipeline

bench: bench-images bench-pipeline

clean:
	rm -rf .serverless artifacts .pytest_cache
