# PassLane: `make demo` runs the main job, `make test` runs the tests.
# Both provision what they need on a fresh Debian / Raspberry Pi OS machine:
# Debian packages (when we are root), a .venv with the Python extras, and the
# node packages for the MicroPython (WebAssembly) firmware tests.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: demo test bench fuzz firmware-test typecheck-firmware typecheck lint sysdeps venv node clean help

help:
	@echo "make demo   - set up and run a whole simulated registration site"
	@echo "make test   - set up and run every test (Python, MicroPython, browser)"
	@echo "make bench  - set up and print the benchmark tables"
	@echo "make fuzz   - set up and fuzz every parser that faces the outside, long (minutes)"

# ---------------------------------------------------------------- provisioning
sysdeps:
	@bash scripts/ensure-sysdeps.sh

$(VENV)/.stamp-installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install python3 (>= 3.11) and python3-venv" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: PassLane needs Python >= 3.11 ($(PYTHON) is older)" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV); on Debian: apt-get install python3-venv" >&2; exit 1; }
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[edge,exam,cloud,dev]'
	@touch $@

venv: $(VENV)/.stamp-installed

node_modules/.stamp-installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; on Debian: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: node_modules/.stamp-installed

# ---------------------------------------------------------------- main jobs
demo: sysdeps venv
	$(VENV)/bin/passlane demo --vehicles 12
	$(VENV)/bin/passlane demo exam --cars 3 --candidates 12

test: sysdeps venv node
	@$(MAKE) --no-print-directory firmware-test
	@$(MAKE) --no-print-directory typecheck-firmware
	@$(MAKE) --no-print-directory typecheck
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The fuzz tests (tests/fuzz, tests/site/test_fuzz_site.py) with the long hypothesis profile; `make test` runs them
# small. Ends with the examples each target ran and the number of failures.
fuzz: sysdeps venv
	PASSLANE_FUZZ=long $(PY) -m pytest -m fuzz -o timeout=3600 tests/fuzz tests/site/test_fuzz_site.py $(PYTEST_ARGS)

# The benchmarks' peers (RapidOCR for the VIN reader, pyubx2 for the GNSS reader) are installed in the bench environment only.
bench: sysdeps venv node
	$(PIP) install --quiet rapidocr-onnxruntime pyubx2
	$(VENV)/bin/passlane bench

# The firmware's own tests under the real MicroPython interpreter (WebAssembly port, run by node).
firmware-test: node
	node tests/firmware/run_micropython.mjs

# The firmware sources against the RP2040 MicroPython stubs.
typecheck-firmware: venv
	bash scripts/typecheck-firmware.sh

# The host packages (everything but firmware/*.py) with the pydantic plugin; [tool.mypy] in pyproject.toml.
typecheck: venv
	$(PY) -m mypy --config-file pyproject.toml

# Style and layering: ruff (lint and format check, [tool.ruff]) and the import contracts ([tool.importlinter]).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --config pyproject.toml

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .hypothesis var
