# Two commands do all set-up on a fresh machine: `make build` and `make test`.
# System packages (CJK fonts for the PDF, poppler for the tests): scripts/system-deps.sh.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: build test lint bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv (Debian: sudo apt-get install python3-venv)" >&2; exit 1; fi; }
	@$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.run
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

build: $(VENV)/.run
	@scripts/system-deps.sh build
	$(BIN)/cardsmith build

lint: $(VENV)/.test
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy

test: $(VENV)/.test
	@scripts/system-deps.sh test
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.test
	$(BIN)/python bench/run.py

clean:
	rm -rf build $(VENV) .mypy_cache .ruff_cache .pytest_cache
