# The two commands of the README, and the steps they are made of.
#   make demo   installs everything and serves the demo county on http://127.0.0.1:8000
#   make test   installs everything (with the test tools and Chromium) and runs every check

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n auto  # pytest-xdist: one worker per core

.PHONY: demo test install install-test browser lint typecheck unit bench clean vendor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(PYTHON) frontend/vendor.py --check
	$(BIN)/shequ warm  # the Numba kernels compiled now, so no user waits for them

# ECharts and axe-core from npm at frontend/package-lock.json's versions, copied with their
# licences into src/shequ/web/static/vendor (committed: the demo needs no npm).
vendor:
	$(PYTHON) frontend/vendor.py

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

# Debian's Chromium for the real-browser tests (Playwright drives it; no browser download).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "chromium is not installed and this user cannot install it: browser tests will be skipped"; fi

demo: install
	$(BIN)/shequ demo

# ruff, then the architecture's import contracts (pyproject.toml [tool.importlinter]).
lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: install-test
	$(BIN)/mypy

unit: install-test browser
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,bench]"
	for script in bench/*_bench.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) shequ-data .pytest_cache .mypy_cache .ruff_cache
