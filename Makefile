# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint schemas stack worker bench-surges reliability clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/abm demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/abm schemas --check

bench-surges: $(STAMP)
	$(BIN)/python bench/surge_latency.py

reliability: $(STAMP)
	$(BIN)/python drills/reliability.py

schemas: $(STAMP)
	$(BIN)/abm schemas

stack: $(STAMP)
	$(BIN)/abm stack

worker: $(STAMP)
	$(BIN)/abm worker

clean:
	rm -rf $(VENV) .abm-data test-artifacts .pytest_cache .ruff_cache .hypothesis
