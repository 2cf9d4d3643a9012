# Parcours — run `make help` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || echo /root/.pyenv/versions/3.11.7/bin/python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# Bulk encoding (index build, profiles, benchmarks) in 2 single-threaded worker processes: on 2 cores they
# encode the catalogue's long texts faster than one process of 2 threads (docs/benchmarks.md, index section).
demo bench bench-large: export PARCOURS_EMBEDDING_BULK_WORKERS ?= 2

DEMO_WORLD := data/worlds/demo
DEMO_SEED := 42
# A fixed as_of keeps the demo world, and the README's walk over it, the same whenever it is generated.
DEMO_AS_OF := 2026-12-01
# The demo world is French (issue 15): French titles, descriptions and declared jobs; `en` gives the English one.
DEMO_LANG := fr

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Parcours with its dev tools

demo: $(STAMP) ## Generate the demo world, import it, build profiles and the index, train, serve on :8000
	test -f $(DEMO_WORLD)/demo_files.json || $(BIN)/parcours world generate --scale small --seed $(DEMO_SEED) --as-of $(DEMO_AS_OF) --lang $(DEMO_LANG) --out $(DEMO_WORLD)
	$(BIN)/parcours import $(DEMO_WORLD)
	$(BIN)/parcours user import $(DEMO_WORLD)/demo_users.csv
	$(BIN)/parcours world demo-files $(DEMO_WORLD)
	$(BIN)/parcours profile recompute
	$(BIN)/parcours index build
	$(BIN)/parcours train --truth $(DEMO_WORLD)
	PARCOURS_BUSINESS_DATE=$$($(BIN)/python -c "import json; print(json.load(open('$(DEMO_WORLD)/demo_files.json'))['business_date'])") \
		$(BIN)/parcours serve --host 127.0.0.1 --port 8000

test: $(STAMP) ## Run the whole test suite (PostgreSQL too when PARCOURS_TEST_PG_URL is set)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(STAMP) ## ruff, mypy and the one-way layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) /usr/bin/wrk ## Run the benchmarks and rewrite docs/benchmarks.md
	$(BIN)/python -m training.bench --out docs/benchmarks.md

# The large world of the index, training and latency sections (seed 0, as of 2026-11-01). On a new machine the
# catalogue's cold encoding (176,133 texts) alone takes about 1.5 h of both cores, the skills profiles 25 min more:
# start it first and leave the machine to it. Every step resumes where an interrupted run stopped.
LARGE_WORLD := data/worlds/large

bench-large: $(STAMP) ## Only the large-world benchmarks (index, train_large, recommend): ~2 h on a new machine
	test -f $(LARGE_WORLD)/manifest.json || $(BIN)/parcours world generate --scale large --seed 0 --as-of 2026-11-01 --out $(LARGE_WORLD)
	$(BIN)/python -m training.bench --only index train_large recommend --out docs/benchmarks.md

# The load bench drives the server with Debian's wrk: installed when missing, as .ci/run installs Chromium (only the
# benchmarks need it, not `make test`).
/usr/bin/wrk: export DEBIAN_FRONTEND := noninteractive
/usr/bin/wrk:
	apt-get update -qq
	apt-get install -y -qq wrk >/dev/null

notebooks: $(STAMP) ## Run the notebooks on the demo world (after `make demo`): reports/*.ipynb, reports/figures/
	mkdir -p reports
	$(BIN)/jupyter execute --output '../reports/{notebook_name}' notebooks/01_explore_world.ipynb \
		notebooks/02_evaluate_and_compare.ipynb

clean: ## Remove generated data (keeps .venv)
	rm -rf data/parcours.db* data/index data/mlruns data/mlflow.db data/worlds

.PHONY: help install demo test lint bench bench-large notebooks clean
