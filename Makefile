# Two commands do everything on a fresh machine:
#   make demo   install into .venv, then run the main job on the embedded default input (offline)
#   make test   install into .venv, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= dev,ray,llm-cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/curate run pipelines/github_files.yaml
	$(BIN)/curate report out/github-files --no-yaml --html out/github-files-report.html

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf out .pytest_cache
