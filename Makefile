# globaltables developer entry points.  `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup kafka-jars lint test test-unit demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the project with its dev tools

kafka-jars: setup  ## fetch the pinned Kafka broker jars from Maven Central (once)
	$(PY) -c "from globaltables.kafka_broker import ensure_jars; print(ensure_jars())"

lint: setup  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-unit: setup  ## the unit tests only (no services)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

test: setup kafka-jars lint  ## everything: lint, unit and integration tests (real Kafka and PostgreSQL)
	time $(PY) -m pytest -q -ra $(PYTEST_ARGS)

demo: setup kafka-jars  ## Kafka + three replicating regions + a workload; Ctrl-C stops everything
	$(VENV)/bin/globaltables demo

clean:  ## remove caches and local data (not the venv)
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache .hypothesis
