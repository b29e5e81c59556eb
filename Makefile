# Two commands do all set-up on a fresh machine: `make build` and `make test`.
# System packages (CJK fonts for the PDF, poppler for the tests): scripts/system-deps.sh.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The real Anki desktop (aqt from PyPI, ~220 MB of wheels) for the `sync --ankiconnect` tests.
# The AnkiConnect add-on is not on PyPI: it is taken from ANKI_DESKTOP_DIR, with the scripts
# that start Anki headless; without it those tests are skipped (and nothing is installed).
ANKI_DESKTOP_DIR ?= ../shared/anki-desktop
ANKI_VENV := .anki-desktop

.PHONY: build test lint bench clean anki-desktop

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv (Debian: sudo apt-get install python3-venv)" >&2; exit 1; fi; }
	@$(BIN)/python -m pip install -q --upgrade pip

# With the sync extra: a checkout set up by `make build` can run `cardsmith sync` too.
$(VENV)/.run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[sync]'
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

$(ANKI_VENV)/.done:
	$(PYTHON) -m venv $(ANKI_VENV)
	$(ANKI_VENV)/bin/python -m pip install -q "aqt[qt]==26.9.3"
	@touch $@

anki-desktop: $(ANKI_VENV)/.done

test: $(VENV)/.test
	@scripts/system-deps.sh test
	@if [ -d "$(ANKI_DESKTOP_DIR)/ankiconnect" ]; then $(MAKE) -s anki-desktop; \
	  else echo "no AnkiConnect add-on in $(ANKI_DESKTOP_DIR): the sync --ankiconnect tests are skipped"; fi
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.test
	$(BIN)/python bench/run.py

clean:
	rm -rf build $(VENV) $(ANKI_VENV) .mypy_cache .ruff_cache .pytest_cache
