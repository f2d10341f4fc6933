# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: kernel demo test lint schemas stack worker bench bench-surges bench-replay bench-quix-env bench-soak bench-scale-out bench-rocksdb bench-state reliability vendor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The pure logic compiled with mypyc (streams/dev/kernel.py): built again only when its sources
# change; without a C compiler it says so and everything runs interpreted.
kernel: $(STAMP)
	$(BIN)/abm kernel

demo: kernel
	$(BIN)/abm demo

test: kernel
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/abm schemas --check

bench-surges: kernel
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

bench-soak: kernel
	$(BIN)/python -m bench.soak

bench-scale-out: kernel
	$(BIN)/python -m bench.scale_out

bench-rocksdb: kernel
	$(BIN)/python -m bench.rocksdb_scale

bench-state: kernel
	$(BIN)/python -m bench.state_size

bench: kernel $(QUIX_STAMP)
	$(BIN)/python -m bench.harness

bench-replay: kernel $(QUIX_STAMP)
	$(BIN)/python -m bench.harness --only ceiling_raw,replay,replay_one_process,peer_quix --latency-s 0

reliability: kernel
	$(BIN)/python drills/reliability.py

schemas: $(STAMP)
	$(BIN)/abm schemas

stack: kernel
	$(BIN)/abm stack

worker: kernel
	$(BIN)/abm worker

# Chart.js for the dashboard, vendored (committed) so the page works offline: this refetches
# the pinned release from the npm registry and checks it against the pinned hash.
CHARTJS := 4.6.1
CHARTJS_SHA256 := 9345dacdf4bb4c5d40321f4b9aafab6fe676d37a534fc0bc2d17c4c4e29c4f00
vendor:
	rm -rf .vendor && mkdir .vendor
	cd .vendor && npm pack --silent chart.js@$(CHARTJS) >/dev/null
	echo "$(CHARTJS_SHA256)  .vendor/chart.js-$(CHARTJS).tgz" | sha256sum -c -
	tar -xzf .vendor/chart.js-$(CHARTJS).tgz -C .vendor
	cp .vendor/package/dist/chart.umd.min.js streams/dashboard/static/chart.umd.min.js
	cp .vendor/package/LICENSE.md streams/dashboard/static/chart.js-LICENSE.md
	rm -rf .vendor

clean:
	rm -rf $(VENV) $(QUIX_VENV) build .abm-data test-artifacts .pytest_cache .ruff_cache .hypothesis
