# Two commands for a fresh clone: `make run` serves the app, `make test` runs the whole suite.
# uv comes from the PATH, or is installed into .tools/ (a local virtual environment) when it is missing.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)

.PHONY: run test test-fast bench sync lint screenshots

$(CURDIR)/.tools/bin/uv:
	@echo "uv is not on the PATH: installing it into .tools/" >&2
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

# Compiled bytecode, written once here: without it (PYTHONDONTWRITEBYTECODE set, or a read-only install) every
# process compiles what it imports again, which tripled the server's start and the CLI's time on this machine
# (pandas 2.5 s to import, 0.8 s compiled; docs/PERFORMANCE.md)
sync: $(UV)
	$(UV) sync --locked --compile-bytecode
	$(UV) run --no-sync python -m compileall -q risk bench app.py serve.py >/dev/null

run: sync
	$(UV) run --no-sync risk init
	$(UV) run --no-sync streamlit run serve.py

test: sync
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

# the quick loop while working: no browser, nothing marked slow (`make test` runs everything)
test-fast: sync
	$(UV) run --no-sync pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: sync
	$(UV) run --no-sync python -m bench.run $(BENCH_ARGS)

lint: sync
	$(UV) run --no-sync ruff check .
