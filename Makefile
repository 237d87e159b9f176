# One entry point for people and CI. `make serve` and `make test` install what they need, at the
# versions of constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
RUNTIME := $(VENV)/.runtime-$(HASH)
DEV := $(VENV)/.dev-$(HASH)

.PHONY: serve test soak lint typecheck check docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[server]'
	rm -f $(VENV)/.runtime-* && touch $@

$(DEV): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.runtime-* && touch $@ $(RUNTIME)

serve: $(RUNTIME)
	$(BIN)/opendance serve $(ARGS)

test: $(DEV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

soak: $(DEV)
	SOAK_TASKS=1000 $(BIN)/python -m pytest -q tests/soak $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEV)
	$(BIN)/mypy

check: lint typecheck test

# The documentation site: the generated reference pages must be current, and every link and
# page must resolve (--strict turns mkdocs' warnings into errors).
docs: $(DEV)
	$(BIN)/python -m opendance.docs_gen --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(DEV)
	$(BIN)/python bench/bench_preview_engine.py
	$(BIN)/python bench/bench_worker_tail.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_api.py --postgres
	$(BIN)/python bench/bench_dialects.py
	$(BIN)/python bench/bench_large_bodies.py
	$(BIN)/python bench/bench_webhooks.py
	$(BIN)/python bench/bench_model_engine.py
	$(BIN)/python bench/bench_submit_pg.py
	$(BIN)/python bench/bench_pickup.py
	$(BIN)/python bench/bench_pickup.py --sqlite
	$(BIN)/python bench/bench_submit_done.py
	$(BIN)/python bench/bench_drain.py
	$(BIN)/python bench/bench_metrics.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
