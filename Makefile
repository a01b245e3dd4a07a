# Roster: `make run` serves the demo on http://127.0.0.1:8000; `make test` runs every test.
# Both do all the set-up themselves: virtual environment, pinned dependencies, migrations.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
SCALE ?= 1
BENCH_ARGS ?=

.PHONY: setup migrate demo run test lint format typecheck check-migrations bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(BIN)/roster db upgrade

demo: migrate
	$(BIN)/roster demo --host $(HOST) --port $(PORT)

run: demo
	$(BIN)/roster serve --host $(HOST) --port $(PORT)

test: migrate
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: setup
	$(BIN)/mypy

# Models and migrations must agree: migrate a scratch database, then ask Alembic for a diff.
check-migrations: setup
	@rm -f var/check-migrations.db
	ROSTER_DATABASE_URL=$${ROSTER_CHECK_DATABASE_URL:-sqlite:///var/check-migrations.db} $(BIN)/alembic upgrade head
	ROSTER_DATABASE_URL=$${ROSTER_CHECK_DATABASE_URL:-sqlite:///var/check-migrations.db} $(BIN)/alembic check

# Benchmarks (not tests): `make bench SCALE=0.1 BENCH_ARGS="--only delete --db sqlite"`.
bench: migrate
	$(BIN)/python -m bench --scale $(SCALE) $(BENCH_ARGS)

# Re-pin every dependency from requirements.in into requirements.lock.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -r requirements.in
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^roster' > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
