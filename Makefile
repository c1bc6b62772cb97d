# stockcast: `make run` for the offline demo, `make test` for the suite. `make help` lists all.
# Setup is automatic: a missing or outdated .venv is (re)built with uv from uv.lock.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := python3 -m uv
STAMP := $(VENV)/.stockcast-installed

.DEFAULT_GOAL := help
.PHONY: help setup run test bench bench-demo bench-scale lint format dashboard lab api status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --locked --no-python-downloads
	@git config filter.nbstripout.clean >/dev/null 2>&1 || $(VENV)/bin/nbstripout --install --attributes .gitattributes >/dev/null 2>&1 || true
	@touch $@

setup: $(STAMP) ## create .venv from uv.lock (Python 3.12) if missing or outdated

run: setup ## the offline demo: sample prices, backfill, tune, train, predict, evaluate, dashboard snapshot
	$(PY) -m runner demo

test: setup ## the whole test suite (PostgreSQL too when STOCKCAST_TEST_PG_URL is set)
	$(PY) -m pytest

bench: setup ## time and memory per stage and ticker (demo, 50 synthetic tickers, backfill, scale: 1-2 hours) -> outputs/bench.json
	$(PY) -m bench

bench-demo: setup ## only the offline demo's wall time, stage by stage (a few minutes) -> outputs/bench.json
	$(PY) -m bench --only demo

bench-scale: setup ## issue 12's targets on 500 synthetic tickers, PASS/MISS (1-2 hours; MEASURES=chains,executors,floor,backfill)
	$(PY) -m bench --only scale $(if $(MEASURES),--measures $(MEASURES))

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check stockcast runner bench tests scripts
	$(VENV)/bin/ruff format --check stockcast runner bench tests scripts

format: setup ## ruff format
	$(VENV)/bin/ruff format stockcast runner bench tests scripts

dashboard: setup ## serve the Voila dashboard on 127.0.0.1:8866
	$(PY) -m runner dashboard

lab: setup ## JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 notebooks

status: setup ## the last runs and their failures
	$(PY) -m runner status

clean: ## remove the virtualenv (outputs/ is kept)
	rm -rf $(VENV)
