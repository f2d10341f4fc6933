# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: help kernel demo test test-fast lint format docs schemas stack worker bench bench-surges bench-replay bench-quix-env bench-soak bench-scale-out bench-rocksdb bench-state bench-tune reliability vendor vendor-analytics bench-collect clean

help: ## This list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The pure logic compiled with mypyc (streams/dev/kernel.py): built again only when its sources
# change; without a C compiler it says so and everything runs interpreted.
kernel: $(STAMP) ## Compile the pure logic (a no-op when built)
	$(BIN)/abm kernel

demo: kernel ## The demo: embedded broker and Redis, a worker, synthetic accounts, the dashboard
	$(BIN)/abm demo

test: kernel ## Every test: unit, and end to end on the embedded broker and Redis
	$(BIN)/pytest

test-fast: kernel ## The unit tests only (no broker, no Redis)
	$(BIN)/pytest tests/unit

# mypy checks what pyproject.toml's [tool.mypy] names (strict for the logic and schemas);
# the docs check fails when a generated part of docs/ differs from the code (`make docs`).
lint: $(STAMP) ## ruff, formatting, mypy, the JSON Schemas and the generated docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/abm schemas --check
	$(BIN)/python -m streams.docs --check

format: $(STAMP) ## Fix what ruff can, and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(STAMP) ## Write the generated parts of docs/ from the code
	$(BIN)/python -m streams.docs

bench-surges: kernel ## Event-to-alert latency under steady load
	$(BIN)/python -m bench.surge_latency

# Quix Streams (the peer_quix contender) pins pydantic below our pin: its own virtualenv.
QUIX_VENV := .venv-quix
QUIX_STAMP := $(QUIX_VENV)/.installed-$(shell cksum bench/requirements-quix.txt | cut -d' ' -f1)

$(QUIX_STAMP): bench/requirements-quix.txt
	$(PYTHON) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/pip install --quiet -r bench/requirements-quix.txt
	rm -f $(QUIX_VENV)/.installed-*
	touch $(QUIX_STAMP)

bench-quix-env: $(QUIX_STAMP)

bench-soak: kernel ## A worker under steady load for minutes: does its memory level off?
	$(BIN)/python -m bench.soak

bench-scale-out: kernel ## One worker, then two in one group
	$(BIN)/python -m bench.scale_out

bench-rocksdb: kernel ## Account state at scale in RocksDB: memory and recovery time
	$(BIN)/python -m bench.rocksdb_scale

bench-collect: $(STAMP) ## abm collect: accepted Segment calls/s, and request latency at half that rate
	$(BIN)/python -m bench.collect

bench-state: kernel ## Size of the account state record
	$(BIN)/python -m bench.state_size

bench-tune: kernel ## abm tune on 10,000 accounts x 365 days x 1,000 candidates
	$(BIN)/python -m bench.tune --json bench/tune.json

bench: kernel $(QUIX_STAMP) ## The live worker against its peers (figures in bench/)
	$(BIN)/python -m bench.harness

bench-replay: kernel $(QUIX_STAMP) ## Replay against the raw consumer and Quix
	$(BIN)/python -m bench.harness --only ceiling_raw,replay,replay_one_process,peer_quix --latency-s 0

reliability: kernel ## Drills too long for make test: a Redis outage, a broker restart, a worker killed with deliveries queued
	$(BIN)/python drills/reliability.py

schemas: $(STAMP) ## Write the JSON Schema files from the models
	$(BIN)/abm schemas

stack: kernel ## The embedded broker and Redis, until Ctrl-C
	$(BIN)/abm stack

worker: kernel ## One worker against ABM_* settings
	$(BIN)/abm worker

# Chart.js for the dashboard, vendored (committed) so the page works offline: this refetches
# the pinned release from the npm registry and checks it against the pinned hash.
CHARTJS := 4.6.1
CHARTJS_SHA256 := 9345dacdf4bb4c5d40321f4b9aafab6fe676d37a534fc0bc2d17c4c4e29c4f00
vendor: ## Refetch the vendored Chart.js from npm and check its hash
	rm -rf .vendor && mkdir .vendor
	cd .vendor && npm pack --silent chart.js@$(CHARTJS) >/dev/null
	echo "$(CHARTJS_SHA256)  .vendor/chart.js-$(CHARTJS).tgz" | sha256sum -c -
	tar -xzf .vendor/chart.js-$(CHARTJS).tgz -C .vendor
	cp .vendor/package/dist/chart.umd.min.js streams/dashboard/static/chart.umd.min.js
	cp .vendor/package/LICENSE.md streams/dashboard/static/chart.js-LICENSE.md
	rm -rf .vendor

# analytics.js (@segment/analytics-next), its UMD build, vendored (committed) under tests/ for
# tests/e2e/test_collect_browser.py: CI has no npm. This refetches it and checks the hash.
ANALYTICS_NEXT := 1.84.3
ANALYTICS_NEXT_SHA256 := f571d06c2c4de79fbb27b04696b2128294d09e3c057a5adc974ebed790b8d7ba
vendor-analytics: ## Refetch the vendored analytics.js (the collector's browser test) and check its hash
	rm -rf .vendor && mkdir .vendor
	cd .vendor && npm pack --silent @segment/analytics-next@$(ANALYTICS_NEXT) >/dev/null
	echo "$(ANALYTICS_NEXT_SHA256)  .vendor/segment-analytics-next-$(ANALYTICS_NEXT).tgz" | sha256sum -c -
	tar -xzf .vendor/segment-analytics-next-$(ANALYTICS_NEXT).tgz -C .vendor
	cp .vendor/package/dist/umd/index.js tests/e2e/assets/analytics-next.umd.js
	cp .vendor/package/LICENSE.MD tests/e2e/assets/analytics-next-LICENSE.md
	rm -rf .vendor

clean: ## Remove the virtualenvs, builds and test leftovers
	rm -rf $(VENV) $(QUIX_VENV) build .abm-data test-artifacts .pytest_cache .ruff_cache .hypothesis
