# collab developer commands. `make demo` and `make test` set everything up on a fresh machine first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# the runtime-only environment of make install-runtime (e.g. RUNTIME_VENV=/opt/collab/venv on a service machine)
RUNTIME_VENV ?= .venv-runtime
# this checkout's compiler folder (collab_py.chain.toolchain registers solc-v0.8.30 there): py-solc-x in ape and
# every other tool started from here looks there, never in a ~/.solcx shared with other clones
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx

.PHONY: setup demo test long e2e geth gas throughput listener-bench history-bench platform-bench platform-fuzz compile compile-paris errors lock lint clean

WEB_VENDOR := src/collab_py/web/static/vendor

setup: $(STAMP) node_modules/.package-lock.json $(WEB_VENDOR)/.copied
	$(BIN)/python -m collab_py.chain.toolchain
	$(BIN)/python -m collab_py.chain.toolchain.forge
	$(BIN)/python -m collab_py.chain.build

# the pinned pip, then every dependency at the version and hashes of the lock, then the package itself without
# resolving anything (a dependency missing from the lock fails pip check: run make lock)
$(STAMP): pyproject.toml requirements/pip.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/pip.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

## the services alone, without the dev and Ape extras: the pinned pip, the runtime lock, the package (not editable)
.PHONY: install-runtime
install-runtime:
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --require-hashes -r requirements/pip.txt
	$(RUNTIME_VENV)/bin/pip install --quiet --require-hashes -r requirements/runtime.txt
	$(RUNTIME_VENV)/bin/pip install --quiet --no-deps --no-build-isolation .
	$(RUNTIME_VENV)/bin/pip check
	$(RUNTIME_VENV)/bin/collab --help >/dev/null

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# the web UI's script libraries (htmx, Chart.js), from the locked npm packages: build output, git-ignored
$(WEB_VENDOR)/.copied: node_modules/.package-lock.json
	mkdir -p $(WEB_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.min.js $(WEB_VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(WEB_VENDOR)/
	touch $@

## the main job: start anvil, deploy, run the flow S1–S7 once
demo: setup
	$(BIN)/collab demo

## the test suite: the contracts' own tests (forge: every refusal, fuzzing, invariants), the gas of each step against
## its baseline (+1 % at most), then the services, listeners and CLI on anvil (pytest)
test: setup
	$(FORGE) test
	$(BIN)/python bench/gas.py --check bench/gas-baseline.json
	$(BIN)/python -m pytest -n 2

## the adversarial suite's long profile: forge invariants >= 5,000,000 calls, Python invariants >= 10,000 steps, more
## fuzzing, a larger load
long: setup
	FOUNDRY_PROFILE=long $(FORGE) test
	COLLAB_PROFILE=long $(BIN)/python -m pytest -n 2 -m slow

## geth 1.13.15 (the last release that seals Clique), built once per machine into ~/.cache/collab (or $COLLAB_CACHE_DIR)
geth: $(STAMP)
	$(BIN)/python -m collab_py.devnet.geth

## the end-to-end suite on a real geth Clique network: 3 sealers + an RPC node, a reorg, faults, zero gas. The tests
## mostly wait for 1 s blocks, so four workers each run their own networks (a class that shares one stays together)
e2e: setup geth
	$(BIN)/python -m pytest -m e2e tests/e2e tests/test_network_init.py -n 4 --dist loadgroup

## gas per step for a 1-stage and a 5-stage contract (after an intended change: --write bench/gas-baseline.json)
gas: setup
	$(BIN)/python bench/gas.py

## complete flows per second through the services, against anvil's raw ingest rate
throughput: setup
	$(BIN)/python bench/throughput.py

## backfill throughput and live latency of the accounting listeners
listener-bench: setup
	$(BIN)/python bench/listener.py

## cost per payment on a young chain and after 10,000 payments of history (more: ARGS="--payments 100000")
history-bench: setup
	$(BIN)/python bench/history.py $(ARGS)

## the platform's reads with 10,000 contracts: p99 of list and inbox reads, first render of pages (Chromium)
platform-bench: setup
	$(BIN)/python bench/web_reads.py

## schemathesis against a running demo platform: every operation of /openapi.json, no 500s, every refusal an
## ErrorBody (the OpenAPI's documented error body)
platform-fuzz: setup
	$(BIN)/python -m collab_py.web.fuzz

compile: setup
	$(BIN)/python -m collab_py.chain.build

## the contracts for pre-Shanghai consortium chains (GoQuorum, older Besu/geth)
compile-paris: setup
	$(BIN)/python -m collab_py.chain.build --evm-version paris

## the contracts' errors as Python classes (src/collab_py/chain/contract_errors.py): run after the contracts change
errors: setup
	$(BIN)/python -m collab_py.chain.errors_gen

LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock"

## re-lock the Python dependencies (requirements/*.txt, with hashes) after pyproject.toml's dependencies change:
## versions already locked are kept (add --upgrade to LOCK to move them); needs the .venv of an earlier make setup
lock:
	$(LOCK) requirements/pip.in -o requirements/pip.txt
	$(LOCK) pyproject.toml requirements/build.in --extra dev --extra ape -o requirements/dev.txt
	$(LOCK) pyproject.toml requirements/build.in -c requirements/dev.txt -o requirements/runtime.txt

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf build .build .solcx .pytest_cache .mypy_cache .ruff_cache .import_linter_cache snapshots
