# globaltables developer entry points.  `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# the dashboard's charting library (uPlot) comes from the npm registry, never the repo
ASSETS := api/dashboard_assets

.PHONY: help setup dashboard-assets kafka-jars lint test test-unit demo clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# pip's output goes to $(VENV)/install.log and is shown only when the install fails
INSTALL_LOG := $(VENV)/install.log
comma := ,
define quiet_install
	@{ $(1); } > $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG) >&2; \
		echo "make: installing into $(VENV) failed; the output above is in $(INSTALL_LOG)" >&2; exit 1; }
endef

$(VENV)/.installed: pyproject.toml
	@echo "installing the project and its dev tools into $(VENV) (output: $(INSTALL_LOG)) ..."
	@$(PYTHON) -m venv $(VENV)
	$(call quiet_install,$(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[dev]')
	@touch $@

# npm ci writes node_modules/.package-lock.json: rebuilt when the lock file changes
$(ASSETS)/node_modules/.package-lock.json: $(ASSETS)/package.json $(ASSETS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 18 and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd $(ASSETS) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

dashboard-assets: $(ASSETS)/node_modules/.package-lock.json  ## install the dashboard's charting library (npm ci)

setup: $(VENV)/.installed dashboard-assets  ## create .venv with the project and its dev tools; build the dashboard assets

kafka-jars: setup  ## fetch the pinned Kafka broker jars from Maven Central (once)
	@$(PY) -c "from globaltables.kafka_broker import ensure_jars; ensure_jars()"

lint: setup  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-unit: setup  ## the unit tests only (no services)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

# Toxiproxy (the WAN tests' real injector) is built when a Go toolchain is here; its
# tests skip without it.  The S3 server is always needed (its tests fail on CI without it)
test: setup kafka-jars lint s3-tools $(if $(shell command -v go),wan-tools)  ## everything: lint, unit and integration tests (real Kafka and PostgreSQL)
	time $(PY) -m pytest -q -ra --durations=25 $(PYTEST_ARGS)

demo: setup kafka-jars  ## Kafka + three replicating regions + a workload; Ctrl-C stops everything
	$(VENV)/bin/globaltables demo

clean:  ## remove caches and local data (not the venv)
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache .hypothesis

# ---- benchmarks (docs/benchmarks.md) ----
BENCH_ARGS ?=
BENCH_PROFILE_ARGS ?=

# the bench extra: moto's server (a peer) and py-spy (profiles)
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	@echo "installing the bench extra into $(VENV) (output: $(INSTALL_LOG)) ..."
	$(call quiet_install,$(PY) -m pip install -e '.[dev$(comma)bench]')
	@touch $@

# dynalite (a peer) from the npm registry; its LevelDB binding ships prebuilt binaries
bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js >= 18 and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd bench && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

.PHONY: bench bench-profile bench-nodes
bench: setup kafka-jars $(VENV)/.bench-installed bench/node_modules/.package-lock.json  ## the standard benchmark set vs moto and dynalite, plus replication (< 10 min)
	$(VENV)/bin/globaltables bench suite --out .data/bench $(BENCH_ARGS)

# one region on PostgreSQL served by one node and by two, at 16 and 32 connections
# (docs/benchmarks.md, "Several nodes per region"); about 7 minutes on 2 cores
BENCH_NODES_ARGS ?=
bench-nodes: setup  ## one PostgreSQL region, 1 node against 2: ops/s, p99, CPU per op, failover time
	$(VENV)/bin/globaltables bench nodes --rounds 3 -d 6 --json .data/bench/nodes.json $(BENCH_NODES_ARGS)

bench-profile: setup $(VENV)/.bench-installed  ## py-spy profiles of a region under the mixed and put workloads
	$(VENV)/bin/globaltables bench profile --out .data/bench --workload mixed --mode gil $(BENCH_PROFILE_ARGS)
	$(VENV)/bin/globaltables bench profile --out .data/bench --workload put --mode wall $(BENCH_PROFILE_ARGS)

# ---- backfill at scale (docs/global-tables.md) ----
# `make test` adds a replica to a 10,000-item table under load; this is the 50,000 one.
.PHONY: backfill-scale
backfill-scale: setup kafka-jars  ## a replica added to a 50,000-item global table while both others write
	GLOBALTABLES_BACKFILL_ITEMS=50000 $(PY) -m pytest tests/integration/replication/test_backfill_scale.py -s -q -ra $(PYTEST_ARGS)

# ---- chaos (docs/reliability.md) ----
# `make test` runs tests/chaos in its short form; this is the long one (30 s cut, more
# kills, longer load), which also writes its fault table into docs/reliability.md.  It
# also runs the per-region Kafka test with the issue's 30 s broker outage (10 s in `make test`)
.PHONY: chaos
chaos: setup kafka-jars  ## the long chaos suite: faults under load, zero lost writes, fault table into docs/reliability.md
	GLOBALTABLES_CHAOS=long GLOBALTABLES_CHAOS_REPORT=docs/reliability.md \
		$(PY) -m pytest tests/chaos tests/integration/replication/test_kafka_per_region.py -s -q -ra $(PYTEST_ARGS)

# ---- S3-compatible storage (docs/regions.md "Backups in S3") ----
# versitygw, built from source through the Go module proxy at a pinned version into
# .tools/bin (never committed): the real S3 server of the tests and `globaltables s3 start`.
# Go >= 1.25 on PATH or in .tools/go (where .ci/run unpacks one from the module proxy)
.PHONY: s3-tools
s3-tools: $(VENV)/.installed  ## build versitygw (pinned, Go module proxy) into .tools/bin: the tests' S3 server
	@PATH="$(CURDIR)/.tools/go/bin:$$PATH" $(PY) -c "from globaltables.s3_local import build; print(build())"

# ---- WAN between regions (docs/reliability.md, docs/benchmarks.md) ----
# Toxiproxy, built from source through the Go module proxy at a pinned version into
# .tools/bin (never committed); the WAN injector's peer links use it when it is there
.PHONY: wan-tools chaos-wan
wan-tools: $(VENV)/.installed  ## build Toxiproxy (pinned, Go module proxy) into .tools/bin for the WAN injector
	@command -v go >/dev/null || { echo "go is missing: install Go >= 1.22 (https://go.dev/dl/)" >&2; exit 1; }
	@$(PY) -c "from globaltables.wan.toxiproxy import build; print(build())"

# the whole fault matrix with issue #18's round trips on every link; its table goes
# between the chaos-wan-table markers of docs/reliability.md.  Toxiproxy carries the
# peer links when Go is here to build it, else the Python proxy does
CHAOS_WAN_MODE ?= long
chaos-wan: setup kafka-jars $(if $(shell command -v go),wan-tools)  ## the chaos fault matrix under WAN latency (75/215/230 ms RTT, jitter ±10 %)
	GLOBALTABLES_CHAOS=$(CHAOS_WAN_MODE) GLOBALTABLES_CHAOS_WAN=1 GLOBALTABLES_WAN_BACKEND=auto \
		GLOBALTABLES_CHAOS_REPORT=docs/reliability.md \
		$(PY) -m pytest tests/chaos -s -q -ra $(PYTEST_ARGS)
