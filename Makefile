# Two commands do all the set-up on a fresh clone:
#   make demo   - the whole pipeline on the bundled sample photos, in the embedded local cloud
#   make test   - lint, the documentation site and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# checkov has a venv of its own: its pins clash with requirements-dev.txt (requirements-checkov.txt).
CHECKOV_VENV ?= .venv-checkov
export SLS_TELEMETRY_DISABLED := 1
export AWS_EC2_METADATA_DISABLED := true
# The Serverless CLI and its plugins need a Node.js LTS (>= 22): package.json pins one as a
# dependency (node_modules/.bin/node, which npx and the local cloud put first on PATH). Where
# the machine's own Node is older, npm ci itself runs on that pinned version, fetched by npm.
NODE_PIN := $(shell python3 -c "import json; print(json.load(open('package.json'))['devDependencies']['node'])")
NODE_IS_LTS := $(shell node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 22)' 2>/dev/null && echo yes)
NPM := $(if $(NODE_IS_LTS),npm,npm exec --yes --package=node@$(NODE_PIN) -- npm)

.PHONY: setup checkov demo up package parity test lint format docs bench bench-images bench-pipeline bench-uniqueness clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt layers/pillow/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# the project folder on the venv's path: `python -m localcloud` works from any folder
	$(PY) -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "image-converter.pth").write_text("$(CURDIR)\n")'
	touch $@

checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

# The photo app (app/, docs/app.md) bundled into app/dist/ by esbuild (a deploy builds it too).
.PHONY: app
app: node_modules/.installed
	node_modules/.bin/node app/build.mjs

# The photo app's screenshots in docs/ (app-*.png) at 375 and 1280 px, from a real browser.
.PHONY: screenshots
screenshots: setup
	APP_SCREENSHOTS=docs $(PY) -m pytest tests/test_app.py -q

demo: setup
	$(PY) -m localcloud demo

up: setup
	$(PY) -m localcloud up

package: setup
	$(PY) -m localcloud package --stage $(or $(STAGE),dev)

# The arm64 build of a stage (dev) run under qemu-aarch64-static with the runtime's own Python:
# every handler imports and the image functions give the x86_64 build's pixels (minutes).
parity: setup
	$(PY) -m pytest -m parity tests/test_parity.py -q -s

# A deployed stage checked end to end (on AWS, or a local cloud when AWS_ENDPOINT_URL is set).
.PHONY: verify
verify: setup
	$(PY) -m ops verify --stage $(or $(STAGE),dev)

# The packages mypy checks (its settings, strictness per module: pyproject.toml [tool.mypy]).
MYPY_PACKAGES := handlers ops bench localcloud

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_PACKAGES)
	node --check localcloud/tools/console_static/app.js

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The documentation site (mkdocs.yml) into site/, strictly: a broken link or anchor fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: setup checkov lint docs
	$(PY) -m pytest

# Benchmarks print figures; they install the comparison tools (pyvips, ImageMagick) themselves.
$(VENV)/.bench: requirements-bench.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

bench-images: setup $(VENV)/.bench
	OMP_NUM_THREADS=1 VIPS_CONCURRENCY=1 $(PY) -m bench.images

# The thumbnail's function with the stage's renditions against its floor, libvips and ImageMagick.
.PHONY: bench-renditions
bench-renditions: setup $(VENV)/.bench
	OMP_NUM_THREADS=1 VIPS_CONCURRENCY=1 $(PY) -m bench.renditions

bench-pipeline: setup $(VENV)/.bench
	$(PY) -m bench.pipeline

# One user's library of 1,000 then 100,000 photos in the local DynamoDB (~8 minutes: writing 600,000 items).
bench-uniqueness: setup
	$(PY) -m bench.uniqueness

bench: bench-images bench-renditions bench-pipeline bench-uniqueness

clean:
	rm -rf .serverless .localcloud build artifacts .pytest_cache .mypy_cache site
